import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { planStart } from '../../src/checkpoint/plan.js';
import { type Checkpoint, CHECKPOINT_VERSION, invalidReason, type JobFingerprint } from '../../src/checkpoint/state.js';
import { CheckpointFile } from '../../src/checkpoint/store.js';
import { ExitError } from '../../src/errors.js';
import { zeroCounts } from '../../src/pipeline/counters.js';
import { keptColumns, MAX_COLUMNS } from '../../src/sources/columns.js';
import { type CsvSourceOptions, openCsvSource, type SourceItem, type UserSource } from '../../src/sources/csv.js';
import { tempDir } from '../support/cli.js';

/** Rows keep only the columns the output reads; a header's cost is bounded; NUL cells; checkpoints. */
const OPTS: CsvSourceOptions = { userIdColumn: 'user_id', deviceIdColumn: 'device_id', name: 'users.csv' };

async function read(input: string, opts: Partial<CsvSourceOptions> = {}): Promise<{ src: UserSource; items: SourceItem[] }> {
  const buf = Buffer.from(input);
  const start = opts.resume?.offset ?? 0;
  const src = await openCsvSource(Readable.from([buf.subarray(start)]), { ...OPTS, reopen: (o) => Readable.from([buf.subarray(o)]), ...opts });
  const items: SourceItem[] = [];
  for await (const item of src.rows) items.push(item);
  return { src, items };
}

const CSV = [
  'first,user_id,"a note\nover two lines",email,user_id', // 1-2
  'Ann,u-1,"x\ny\nz",ann@x.com,dup', // 3-5
  '  ', // 6
  'Bob,u-2,plain,bob@x.com', // 7
  '',
].join('\n');

describe('rows keep only the columns the output reads', () => {
  it('narrows header and rows to the ids and the columns asked for, every occurrence, with lines as in the file', async () => {
    const warnings: string[] = [];
    const { src, items } = await read(CSV, { columns: ['email'], warn: (f, m) => warnings.push(`${m} ${JSON.stringify(f)}`) });
    expect(src.header).toEqual(['user_id', 'email', 'user_id']);
    expect(src.columns).toEqual([1, 3, 4]);
    expect(items).toMatchObject([
      { kind: 'user', line: 3, user_id: 'u-1', fields: ['u-1', 'ann@x.com', 'dup'] },
      { kind: 'user', line: 7, user_id: 'u-2', fields: ['u-2', 'bob@x.com', ''] },
    ]);
    // Positions in the file, as before narrowing.
    expect(warnings).toEqual(['the header names user_id 2 times: using the first (column 2) {"column":"user_id","positions":[2,5]}']);
  });

  it('a resume from the stored names and positions reads the same rows as the first run', async () => {
    const first = await read(CSV, { columns: ['email'] });
    const at = first.items[0] as Extract<SourceItem, { kind: 'user' }>;
    const resumed = await read(CSV, { columns: ['email'], resume: { offset: at.end, linesBefore: at.endFeeds, header: first.src.header, columns: first.src.columns! } });
    expect(resumed.items).toEqual(first.items.slice(1));
    // A checkpoint written before positions were stored holds the whole header: the same rows.
    const old = await read(CSV, { columns: ['email'], resume: { offset: at.end, linesBefore: at.endFeeds, header: ['first', 'user_id', 'a note\nover two lines', 'email', 'user_id'] } });
    expect(old.items).toEqual(first.items.slice(1));
  });

  it('keeps the whole header when a column asked for is missing, so the refusal can show it', () => {
    expect(keptColumns(['user_id', 'first_name', 'email'], ['user_id', 'device_id'], ['last_name'])).toBeNull();
    expect(keptColumns(['id', 'email'], ['user_id', 'device_id'], [])).toBeNull();
    expect(keptColumns(['x', 'device_id', 'email'], ['user_id', 'device_id'], ['email'])).toEqual([1, 2]);
  });

  it(`refuses a header over ${MAX_COLUMNS} columns with one line, before any row`, async () => {
    const header = ['user_id', ...Array.from({ length: MAX_COLUMNS }, (_, i) => `c${i}`)].join(',');
    const err = await read(`${header}\nu-1\n`, { columns: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExitError);
    expect((err as ExitError).exitCode).toBe(2);
    expect((err as ExitError).message).toBe(
      'users.csv: the header row has 16,385 columns, more than the 16,384 read (the widest sheet a spreadsheet saves): is it the users file, with line ends after the header?',
    );
    const ok = await read(`${['user_id', ...Array.from({ length: MAX_COLUMNS - 1 }, (_, i) => `c${i}`)].join(',')}\nu-1\n`, { columns: [] });
    expect(ok.items).toMatchObject([{ kind: 'user', user_id: 'u-1', fields: ['u-1'] }]);
  });

  it('a row far wider than the header costs only its kept cells', async () => {
    const { items } = await read(`user_id,email\nu-1,a@x.com${',v'.repeat(200_000)}\n`, { columns: ['email'] });
    expect(items).toMatchObject([{ kind: 'user', fields: ['u-1', 'a@x.com'] }]);
  });
});

describe('a NUL byte in a cell the output reads', () => {
  it('makes the row unusable, naming the column; the errors file gets U+FFFD in its place', async () => {
    // Past the first 64 KiB, which are refused whole when they hold a NUL.
    const pad = `u-0,,,${'p'.repeat(70_000)}\n`;
    const { items } = await read(`user_id,device_id,first,note\n${pad}u\u00001,,Ann,x\nu-2,d\u00002,Bob,x\nu-3,,C\u0000,x\nu-4,,Dee,x\u0000y\n`, { columns: ['first'] });
    expect(items.slice(1)).toMatchObject([
      { kind: 'bad', line: 3, user_id: 'u\uFFFD1', reason: 'NUL byte in user_id (binary data in a text file)' },
      { kind: 'bad', line: 4, device_id: 'd\uFFFD2', reason: 'NUL byte in device_id (binary data in a text file)' },
      { kind: 'bad', line: 5, user_id: 'u-3', reason: 'NUL byte in first (binary data in a text file)' },
      { kind: 'user', line: 6, user_id: 'u-4' },
    ]);
  });
});

describe('a checkpoint and a changed input', () => {
  const INPUT = { path: '/data/users.csv', size: 1200, mtimeMs: 1_700_000_000_000 };
  const job = (input = INPUT, recIds = ['homepage']) => ({ input, output: '/data/out.csv', recIds }) as unknown as JobFingerprint;
  const saved = (done: boolean): Checkpoint => ({
    version: CHECKPOINT_VERSION,
    job: job(),
    done,
    input: { offset: 10, feeds: 1, line: 1, header: ['user_id'], columns: [0] },
    outputBytes: 0,
    errorsBytes: 0,
    counts: zeroCounts(),
    requests: 0,
    updatedAt: '2026-12-03T00:00:00Z',
  });

  it('unfinished, input changed since: refused, and --fresh is the way on', () => {
    const grown = { ...INPUT, size: 1500 };
    expect(() => planStart(saved(false), job(grown), false, 'cp.json')).toThrow(
      /^checkpoint cp\.json belongs to another job: input file changed \(1200 bytes then, 1500 bytes now, .*\)\. That job cannot be resumed any more: add --fresh to discard the checkpoint and export the input as it is now$/,
    );
    expect(planStart(saved(false), job(grown), true, 'cp.json')).toMatchObject({ kind: 'fresh' });
  });

  it('unfinished, other flags on the same input: the original command still resumes it', () => {
    expect(() => planStart(saved(false), job(INPUT, ['email']), false, 'cp.json')).toThrow(/Rerun the original command to resume it, or add --fresh/);
  });

  it('stored column positions must match the stored names', () => {
    const c = saved(false);
    expect(invalidReason(c)).toBeNull();
    expect(invalidReason({ ...c, input: { ...c.input, columns: [0, 1] } })).toBe('no input column positions');
    expect(invalidReason({ ...c, input: { ...c.input, columns: ['0'] } })).toBe('no input column positions');
  });
});

describe('the checkpoint file writer', () => {
  it('leaves no temporary file behind when a save fails', async () => {
    const dir = tempDir('ape-cp-');
    // A directory where the checkpoint should go: the rename over it fails.
    const path = join(dir, 'cp.json');
    mkdirSync(path);
    writeFileSync(join(path, 'keep'), '');
    const store = new CheckpointFile(path);
    const c = { version: CHECKPOINT_VERSION, done: false } as unknown as Checkpoint;
    await expect(store.save(c)).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['cp.json']);
  });

  it("removes a killed run's temporary file on its first save, not a running process's", async () => {
    const dir = tempDir('ape-cp-');
    const path = join(dir, 'cp.json');
    const dead = `.cp.json.${2 ** 22 + 17}.tmp`; // above Linux's largest pid: no such process
    const alive = `.cp.json.${process.ppid}.tmp`;
    for (const f of [dead, alive, '.other.json.12.tmp']) writeFileSync(join(dir, f), '{"trunc');
    await new CheckpointFile(path).save({ version: CHECKPOINT_VERSION } as unknown as Checkpoint);
    expect(readdirSync(dir).sort()).toEqual([alive, '.other.json.12.tmp', 'cp.json'].sort());
  });
});
