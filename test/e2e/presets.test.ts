import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { fixture, logLines, runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';
import { atProgress, killAndRerun } from '../support/kill-loop.js';

/** The README's "Email tool presets" samples come from these flags (fixtures/expected/presets/). */
const SAMPLE = ['--rec-id', 'homepage', '--prediction-id', 'p-churn', '--max-items', '3', '--rate-limit', '0'];
/** The flags of the golden fixtures/expected/users.csv (test/e2e/export.test.ts). */
const GOLDEN = ['--rec-id', 'homepage,email-weekly', '--prediction-id', 'p-churn,p-buy', '--cohort-ids', '--max-items', '5', '--rate-limit', '0'];

let emu: RunningEmulator;
let dir: string;
beforeAll(async () => {
  emu = await fixtureEmulator();
  dir = tempDir('presets-');
});
afterAll(async () => emu.close());

const run = (output: string, flags: string[], input = fixture('users.csv')) => runCli(['export', '--input', input, '--output', output, '--api-url', emu.url, '--no-progress', ...flags]);
const records = (text: string): string[][] => parse(text, { relax_column_count: false });
/** The numbered files of a split output `<dir>/<stem>.csv`, in order. */
const parts = (stem: string, where = dir) =>
  readdirSync(where)
    .filter((n) => new RegExp(`^${stem}-\\d{5}\\.csv$`).test(n))
    .sort()
    .map((n) => join(where, n));

/**
 * Each tool's documented rules (src/output/presets/presets.ts cites the pages): the identifier
 * column, its value on every row, dates, booleans, and no arrays or JSON in any cell.
 */
const RULES = {
  braze: { id: 'external_id', date: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, limitFiles: true },
  iterable: { id: 'userId', date: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, limitFiles: true },
  klaviyo: { id: 'Email Address', date: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$/, limitFiles: true },
  sfmc: { id: 'SubscriberKey', date: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, limitFiles: false },
} as const;

function checkRules(preset: keyof typeof RULES, text: string): Array<Record<string, string>> {
  const rule = RULES[preset];
  const [header, ...rows] = records(text);
  expect(header![0], 'the identifier is the first column').toBe(rule.id);
  expect(new Set(header!.map((h) => h.toLowerCase())).size, 'no two columns of one name').toBe(header!.length);
  for (const h of header!) expect(h, 'column names: letters, digits, _ (and the documented identifier)').toMatch(h === rule.id ? /./ : /^[A-Za-z0-9_]+$/);
  const out = rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])));
  for (const r of out) {
    expect(r[rule.id], 'identifier on every row').not.toBe('');
    if (preset === 'klaviyo') expect(r[rule.id]).toMatch(/^[^\s@]+@[^\s@]+$/);
    for (const [col, cell] of Object.entries(r)) {
      expect(cell, `${col}: no arrays or JSON`).not.toMatch(/^\s*[[{]/);
      if (col.endsWith('_is_control')) expect(['', 'true', 'false'], col).toContain(cell);
      if (col.endsWith('_updated_at') && cell !== '') expect(cell, col).toMatch(rule.date);
      if (col.endsWith('_count')) expect(cell, col).toMatch(/^\d+$/);
    }
  }
  return out;
}

describe('--preset: one row per user in the format each tool imports', () => {
  it.each([
    ['braze', ['--passthrough', 'email']],
    ['iterable', ['--passthrough', 'email']],
    ['klaviyo', []],
    ['sfmc', ['--passthrough', 'email:EmailAddress']],
  ] as const)("%s: the golden file, and the tool's rules on every row", async (preset, extra) => {
    const out = join(dir, `${preset}.csv`);
    const r = await run(out, [...SAMPLE, '--preset', preset, ...extra]);
    expect(r.code, r.stderr).toBe(0);
    // Braze, Iterable and Klaviyo have a documented per-file limit: numbered files by default.
    const files = RULES[preset].limitFiles ? parts(preset) : [out];
    expect(files).toHaveLength(1);
    const text = readFileSync(files[0]!, 'utf8');
    expect(text).toBe(readFileSync(fixture(`expected/presets/${preset}.csv`), 'utf8'));
    const rows = checkRules(preset, text);
    // Exactly one row per user: the same identifier twice only where the input has the user twice (u-1002).
    const ids = rows.map((row) => row[RULES[preset].id]);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([preset === 'klaviyo' ? 'bob@example.com' : 'u-1002']);
  });

  it('rows a preset cannot import go to the errors file with a reason, before any request', async () => {
    emu.resetStats();
    const out = join(dir, 'braze-errors.csv');
    const r = await run(out, [...SAMPLE, '--preset', 'braze']);
    expect(r.code).toBe(0);
    const errors = readFileSync(`${out}.errors.csv`, 'utf8');
    expect(errors).toContain(',d-anon-5f2c9e1b,7,no user_id: braze imports users by external_id,,0');
    expect(errors).toContain(',d-0b44e8f2-1002,20,no user_id: braze imports users by external_id,,0');
    expect(emu.stats().perId!['d-anon-5f2c9e1b']).toBeUndefined();
    const summary = logLines(r.stderr).at(-1)!;
    expect(summary).toMatchObject({ users: 17, skipped: 3, rows: 17 });

    const k = join(dir, 'klaviyo-errors.csv');
    expect((await run(k, [...SAMPLE, '--preset', 'klaviyo'])).code).toBe(0);
    expect(readFileSync(`${k}.errors.csv`, 'utf8')).toContain('u-1005,d-c0ffee00-1005,9,email is not a plain address (local@domain): klaviyo would refuse it,,0');
  });

  it('iterable keyed by email', async () => {
    const out = join(dir, 'it-email.csv');
    expect((await run(out, [...SAMPLE, '--preset', 'iterable', '--identifier', 'email'])).code).toBe(0);
    const [header, first] = records(readFileSync(parts('it-email')[0]!, 'utf8'));
    expect(header![0]).toBe('email');
    expect(first![0]).toBe('carol@example.com');
  });

  it.each<[string, string[], RegExp, string]>([
    ['a passthrough column the input lacks', ['--passthrough', 'email,first_name'], /--passthrough first_name: no such column in the header \(user_id,device_id,email\)/, 'users.csv'],
    ['klaviyo with no email column', ['--preset', 'klaviyo'], /no email column in the header; --preset klaviyo identifies users by email: name the column with --email-column/, 'noemail.csv'],
    ['--split-rows with S3 output', ['--split-rows', '5', '--output', 's3://bucket/recs.csv'], /s3:\/\/ output cannot be split/, 'users.csv'],
  ])('%s: exit 2, one line, no request, no output', async (_what, extra, message, inputName) => {
    const input = inputName === 'users.csv' ? fixture('users.csv') : join(dir, inputName);
    if (inputName !== 'users.csv') writeFileSync(input, 'user_id,mail\nu-1001,a@b.c\n');
    emu.resetStats();
    const out = join(dir, `refused-${inputName}`);
    const r = await run(out, [...SAMPLE, ...extra], input);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(emu.stats().requests).toBe(0);
    expect(existsSync(out)).toBe(false);
  });
});

describe('--passthrough and --control on the default layout', () => {
  let golden: string[][];
  beforeAll(() => {
    golden = records(readFileSync(fixture('expected/users.csv'), 'utf8'));
  });

  it('--passthrough puts input columns after the ids, verbatim (quoted commas too)', async () => {
    const out = join(dir, 'pass.csv');
    expect((await run(out, [...GOLDEN, '--passthrough', 'email,email:Email2'])).code).toBe(0);
    const rows = records(readFileSync(out, 'utf8'));
    expect(rows[0]!.slice(0, 5)).toEqual(['user_id', 'device_id', 'email', 'Email2', 'rec_id']);
    const emails = new Map(records(readFileSync(fixture('users.csv'), 'utf8')).map((r) => [`${r[0]}|${r[1]}`, r[2]]));
    expect(rows).toHaveLength(golden.length);
    for (let i = 1; i < rows.length; i++) {
      const r = rows[i]!;
      expect(r[2]).toBe(emails.get(`${r[0]}|${r[1]}`));
      expect(r[3]).toBe(r[2]);
      // Without the two columns, the row is the golden one.
      expect([...r.slice(0, 2), ...r.slice(4)]).toEqual(golden[i]);
    }
    expect(rows.some((r) => r[2] === 'Doe, Jane <jane.doe@example.com>')).toBe(true);
  });

  it('--control keep is the default output, byte for byte', async () => {
    const out = join(dir, 'keep.csv');
    expect((await run(out, [...GOLDEN, '--control', 'keep'])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
  });

  it('--control blank empties the item cells of control rows only (per rec: u-1013 keeps its homepage items)', async () => {
    const out = join(dir, 'blank.csv');
    expect((await run(out, [...GOLDEN, '--control', 'blank'])).code).toBe(0);
    const rows = records(readFileSync(out, 'utf8'));
    expect(rows).toHaveLength(golden.length);
    const items = (r: string[]) => r.slice(6, 11);
    let blanked = 0;
    for (let i = 1; i < rows.length; i++) {
      if (golden[i]![3] === 'true') {
        blanked++;
        expect(items(rows[i]!).every((c) => c === '')).toBe(true);
        expect([...rows[i]!.slice(0, 6), ...rows[i]!.slice(11)]).toEqual([...golden[i]!.slice(0, 6), ...golden[i]!.slice(11)]);
      } else {
        expect(rows[i]).toEqual(golden[i]);
      }
    }
    expect(blanked).toBe(3);
    expect(rows.find((r) => r[0] === 'u-1013' && r[2] === 'homepage')![6]).toBe('sku-1301');
  });

  it('--control drop leaves out control rows, counted as control_dropped in the summary', async () => {
    const out = join(dir, 'drop.csv');
    const summary = join(dir, 'drop.summary.json');
    const r = await run(out, [...GOLDEN, '--control', 'drop', '--summary', summary]);
    expect(r.code).toBe(0);
    const rows = records(readFileSync(out, 'utf8'));
    expect(rows).toEqual(golden.filter((g) => g[3] !== 'true'));
    expect(rows.some((row) => row[0] === 'u-1004')).toBe(false); // both its recs are control: no row at all
    expect(JSON.parse(readFileSync(summary, 'utf8'))).toMatchObject({ users: 19, ok: 13, rows: 32 - 3, control_dropped: 3 });
  });
});

describe('--split-rows / --split-bytes', () => {
  const unsplit = () => readFileSync(fixture('expected/users.csv'), 'utf8');

  it.each([
    ['--split-rows', '5'],
    ['--split-bytes', '700'],
  ])('%s %s: every file within the limit, with the header; the files together are the unsplit rows', async (flag, n) => {
    const stem = `split${flag}`;
    const out = join(dir, `${stem}.csv`);
    const r = await run(out, [...GOLDEN, flag, n]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(false);
    const files = parts(stem);
    expect(files.length).toBeGreaterThan(3);
    expect(files.map((f) => f.slice(-9))).toEqual(files.map((_, i) => `${String(i + 1).padStart(5, '0')}.csv`));
    const [header, ...expected] = records(unsplit());
    const all: string[][] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      const [h, ...rows] = records(text);
      expect(h).toEqual(header);
      expect(rows.length).toBeGreaterThan(0);
      if (flag === '--split-rows') expect(rows.length).toBeLessThanOrEqual(Number(n));
      else expect(Buffer.byteLength(text)).toBeLessThanOrEqual(Number(n));
      // A user's rows never straddle two files: the next file starts with another user.
      all.push(...rows);
    }
    expect(all).toEqual(expected);
    for (let i = 1; i < files.length; i++) {
      const last = records(readFileSync(files[i - 1]!, 'utf8')).at(-1)!;
      const first = records(readFileSync(files[i]!, 'utf8'))[1]!;
      expect(`${first[0]}|${first[1]}`, `${files[i]}`).not.toBe(`${last[0]}|${last[1]}`);
    }
  });

  it('a preset split (iterable, --split-rows 5) keeps the rules in every file', async () => {
    const out = join(dir, 'itsplit.csv');
    expect((await run(out, [...SAMPLE, '--preset', 'iterable', '--split-rows', '5'])).code).toBe(0);
    const files = parts('itsplit');
    expect(files).toHaveLength(4); // 17 users
    const rows = files.flatMap((f) => checkRules('iterable', readFileSync(f, 'utf8')));
    expect(rows.map((r) => r.userId)).toEqual(records(readFileSync(fixture('expected/presets/iterable.csv'), 'utf8')).slice(1).map((r) => r[0]));
  });
});

describe('split output killed at any instant and resumed', () => {
  const USERS = 600;
  const FLAGS = ['--rec-id', 'homepage,email-weekly', '--prediction-id', 'p-churn', '--rate-limit', '100', '--rate-interval', '1', '--concurrency', '16', '--split-rows', '37'];
  let synth: RunningEmulator;
  let sdir: string;
  let input: string;
  let reference: Record<string, string>;
  const files = (where: string, stem: string) => Object.fromEntries(parts(stem, where).map((f) => [f.slice(-10), readFileSync(f, 'utf8')]));

  beforeAll(async () => {
    synth = await fixtureEmulator({ synthetic: true });
    sdir = tempDir('presets-kill-');
    input = join(sdir, 'users.csv');
    writeFileSync(input, syntheticUsers(USERS));
    const r = await runCli(['export', '--input', input, '--output', join(sdir, 'reference.csv'), '--api-url', synth.url, ...FLAGS, '--rate-limit', '0']);
    expect(r.code).toBe(0);
    reference = files(sdir, 'reference');
  });
  afterAll(async () => synth.close());

  it('SIGKILL at random moments, rerun until done: every file byte-identical to an uninterrupted run', async () => {
    expect(Object.keys(reference).length).toBe(Math.ceil((USERS * 2) / 36)); // 18 users of 2 rows a file
    const out = join(sdir, 'killed.csv');
    const args = ['export', '--input', input, '--output', out, '--api-url', synth.url, ...FLAGS];
    synth.resetStats();
    // Each run killed once a seeded number of users in [0, 540) was asked for (of 600).
    const { schedule, last } = await killAndRerun({
      kills: 4,
      seed: 37,
      start: () => startCli(args),
      moment: atProgress(() => synth.asked(), 4, 0, 540),
      afterKill: (k) => {
        if (k < 3) return;
        const cp = JSON.parse(readFileSync(`${out}.checkpoint.json`, 'utf8'));
        expect(cp.outputPart).toMatchObject({ index: expect.any(Number), bytes: expect.any(Number), rows: expect.any(Number) });
      },
      rerun: () => runCli([...args, '--rate-limit', '0']),
    });
    expect(last.code, last.stderr).toBe(0);
    expect(files(sdir, 'killed'), schedule).toEqual(reference);
  });
});
