import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';
import { atProgress, killAndRerun } from '../support/kill-loop.js';

/**
 * Input CSVs as warehouses and spreadsheets really produce them, through the built CLI and
 * real HTTP: every row that has a usable id is requested and exported, every other row is in
 * the errors file with its line and reason, and a file that is not CSV stops before a request.
 */
let emu: RunningEmulator;
let dir: string;
beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  dir = tempDir('ape-hostile-');
});
afterAll(async () => emu.close());

const write = (name: string, content: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const exportArgs = (input: string, out: string, extra: string[] = []) => ['export', '--input', input, '--output', out, '--api-url', emu.url, '--rate-limit', '0', ...extra];
const requested = () => Object.keys(emu.stats().perId ?? {}).sort();
const text = (p: string) => readFileSync(p, 'utf8');

const LONG_ID = 'a'.repeat(1025);
const BIG_CELL = 'n'.repeat(1024 * 1024);
const HOSTILE = Buffer.concat([
  Buffer.from(
    [
      'user_id,device_id,note', // 1
      ' u-1 ,  d-1 ,padded ids', // 2
      'u-2,,"a stray quote', // 3: opens a field that the first quote of line 7 closes
      'u-3,,swallowed by it', // 4
      '', // 5
      '   ', // 6
      'u-4,d-4,"Doe, Jane"', // 7
      'u-5', // 8: too few fields
      'u-6,d-6,x,extra,more', // 9: too many
      ',,nobody', // 10
      '',
    ].join('\n'),
  ),
  Buffer.from('caf\xe9,,a Latin-1 id\n', 'latin1'), // 11
  Buffer.from('u-7,,caf\xe9 in a note\n', 'latin1'), // 12
  Buffer.from(`${LONG_ID},,a 1025-character id\n`), // 13
  Buffer.from(`u-8,,${BIG_CELL}\n`), // 14
  Buffer.from('u-9,,"never closed\nu-10,,after it\n'), // 15, 16
]);
const EXPORTED = ['u-1', 'u-3', 'u-4', 'u-5', 'u-6', 'u-7', 'u-8', 'u-10'];

describe('hostile rows in a file', () => {
  it('exports every row with a usable id and reports every other row with its line and reason', async () => {
    emu.resetStats();
    const out = join(dir, 'hostile.csv');
    const r = await runCli(exportArgs(write('hostile-in.csv', HOSTILE), out));
    expect(r.code, r.stderr).toBe(0);
    expect(text(out)).toBe(
      ['user_id,device_id,status', 'u-1,d-1,ok', 'u-3,,ok', 'u-4,d-4,ok', 'u-5,,ok', 'u-6,d-6,ok', 'u-7,,ok', 'u-8,,ok', 'u-10,,ok', ''].join('\n'),
    );
    expect(text(`${out}.errors.csv`)).toBe(
      [
        'user_id,device_id,line,reason,http_status,attempts',
        ',,3,unreadable row: unbalanced quote (CSV_INVALID_CLOSING_QUOTE),,0',
        ',,10,no user_id or device_id,,0',
        'caf\uFFFD,,11,invalid UTF-8 in id,,0',
        `${LONG_ID},,13,id longer than 1024 characters,,0`,
        ',,15,unreadable row: unterminated quote (CSV_QUOTE_NOT_CLOSED),,0',
        '',
      ].join('\n'),
    );
    // Trimmed ids are what is requested; nothing else is.
    expect(requested()).toEqual([...EXPORTED].sort());
    expect(logLines(r.stderr).at(-1)).toMatchObject({ users: 8, ok: 8, skipped: 5, failed: 0 });
  });

  it('on stdin, which cannot be read again, says which lines were lost with an unreadable row', async () => {
    emu.resetStats();
    const out = join(dir, 'hostile-stdin.csv');
    const r = await runCli(exportArgs('-', out), { input: HOSTILE as unknown as string });
    expect(r.code, r.stderr).toBe(0);
    const errors = text(`${out}.errors.csv`).trimEnd().split('\n');
    expect(errors[1]).toBe(
      ',,3,unreadable row: unbalanced quote (CSV_INVALID_CLOSING_QUOTE); lines 4 to 7 could not be read either (stdin cannot be read again: give the file to --input to recover them),,0',
    );
    expect(errors.at(-1)).toBe(
      ',,15,unreadable row: unterminated quote (CSV_QUOTE_NOT_CLOSED); the rest of the input after line 15 could not be read either (stdin cannot be read again: give the file to --input to recover them),,0',
    );
    expect(requested()).toEqual(['u-1', 'u-5', 'u-6', 'u-7', 'u-8']);
  });
});

describe('the header', () => {
  it('a header with no data: exit 0, an output of the header alone, and a warning', async () => {
    emu.resetStats();
    const out = join(dir, 'header-only.csv');
    const r = await runCli(exportArgs(write('header-only-in.csv', 'user_id,device_id\r\n'), out));
    expect(r.code, r.stderr).toBe(0);
    expect(text(out)).toBe('user_id,device_id,status\n');
    expect(logLines(r.stderr).filter((l) => l.msg === 'no users in the input')).toEqual([expect.objectContaining({ level: 40 })]);
    expect(emu.stats().requests).toBe(0);
  });

  it('the id column named twice: the first is used, and one warning names it', async () => {
    emu.resetStats();
    const out = join(dir, 'dup-header.csv');
    const r = await runCli(exportArgs(write('dup-header-in.csv', 'user_id,email,user_id,email\nu-1,a@x,other-1,b@x\nu-2,c@x,,d@x\n'), out));
    expect(r.code, r.stderr).toBe(0);
    expect(requested()).toEqual(['u-1', 'u-2']);
    const warnings = logLines(r.stderr).filter((l) => l.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ column: 'user_id', msg: expect.stringMatching(/user_id 2 times: using the first/) })]);
  });
});

describe('a file that is not CSV: exit 2, one line, before any request', () => {
  const csv = Buffer.from('user_id\nu-1\nu-2\n');
  const cases: Array<[string, Buffer, RegExp]> = [
    ['gzip', gzipSync(csv), /: gzip-compressed: decompress it first/],
    ['an .xlsx (a zip)', Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x06\x00', 'latin1'), Buffer.alloc(200, 7)]), /: a zip file or a spreadsheet .*export it as CSV/],
    ['binary (a NUL in the first 64 KiB)', Buffer.concat([csv, Buffer.from([0, 1, 2, 3])]), /: not a CSV text file: a NUL byte at byte 16/],
  ];

  it.each(cases)('%s', async (_name, content, message) => {
    emu.resetStats();
    const out = join(dir, 'not-csv.csv');
    const input = write('not-csv-in', content);
    const r = await runCli(exportArgs(input, out));
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^amp-profile-export: /);
    expect(lines[0]).toContain(input);
    expect(lines[0]).toMatch(message);
    expect(emu.stats().requests).toBe(0);
    expect(existsSync(out)).toBe(false);
  });

  it('gzip on stdin too', async () => {
    emu.resetStats();
    const r = await runCli(exportArgs('-', join(dir, 'not-csv-stdin.csv')), { input: gzipSync(csv) as unknown as string });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^amp-profile-export: stdin: gzip-compressed: decompress it first/);
    expect(emu.stats().requests).toBe(0);
  });
});

describe('the errors file is a valid --input for a rerun', () => {
  it('of exactly the users that failed for good', async () => {
    const input = write('rerun-in.csv', syntheticUsers(200).replace('user-50,\n', 'user-50,\n,\n'));
    const out = join(dir, 'rerun-first.csv');
    emu.setFaults({ rate: 0.3, kinds: ['500'], seed: 7, slowMs: 0, retryAfterSeconds: 0 });
    let first;
    try {
      first = await runCli(exportArgs(input, out, ['--max-retries', '0']));
    } finally {
      emu.setFaults(null);
    }
    expect(first.code, first.stderr.slice(-1000)).toBe(4);
    const errorRows = text(`${out}.errors.csv`).trimEnd().split('\n').slice(1);
    const failed = errorRows.filter((l) => l.startsWith('user-')).map((l) => l.split(',')[0]!);
    expect(failed.length).toBeGreaterThan(20);
    expect(errorRows.filter((l) => !l.startsWith('user-'))).toEqual([',,53,no user_id or device_id,,0']);

    emu.resetStats();
    const again = join(dir, 'rerun-second.csv');
    const r = await runCli(exportArgs(`${out}.errors.csv`, again));
    expect(r.code, r.stderr).toBe(0);
    expect(text(again).trimEnd().split('\n').slice(1).map((l) => l.split(',')[0])).toEqual(failed);
    expect(requested()).toEqual([...failed].sort());
    // The row with no id is reported again, on its line in the errors file.
    expect(text(`${again}.errors.csv`)).toMatch(/\n,,\d+,no user_id or device_id,,0\n$/);
  });
});

describe('killed and resumed on an input with broken quotes', () => {
  const USERS = 300;

  it('SIGKILL at random moments, then rerun until done: output and errors file byte-identical', async () => {
    const input = write(
      'resume-in.csv',
      syntheticUsers(USERS)
        .replace('user-60,\n', 'user-60,"a stray quote\n')
        .replace('user-120,\n', 'user-120,"Doe, Jane"\n')
        .replace('user-250,\n', 'user-250,"never closed\n'),
    );
    const flags = ['--concurrency', '8'];
    const ref = join(dir, 'resume-reference.csv');
    expect((await runCli(exportArgs(input, ref, flags))).code).toBe(0);
    const reference = text(ref);
    expect(reference.trimEnd().split('\n')).toHaveLength(1 + USERS - 2);
    expect(text(`${ref}.errors.csv`)).toMatch(/^user_id.*\n,,62,.*CSV_INVALID_CLOSING_QUOTE.*\n,,252,.*CSV_QUOTE_NOT_CLOSED.*\n$/);

    // 100 requests a second, evenly spaced: the run lasts ~3 s. Each run is killed once a
    // seeded number of users in [1, 270) was asked for, which leaves work for the last run.
    const slow = [...flags, '--rate-limit', '100', '--rate-interval', '1'];
    const out = join(dir, 'resume-killed.csv');
    emu.resetStats();
    const { schedule, last } = await killAndRerun({
      kills: 3,
      seed: 250,
      start: () => startCli(exportArgs(input, out, slow)),
      moment: atProgress(() => emu.asked(), 3, 1, 270),
      rerun: () => runCli(exportArgs(input, out, [...slow, '--rate-limit', '0'])),
    });
    expect(last.code, last.stderr).toBe(0);
    expect(logLines(last.stderr).some((l) => l.msg === 'resuming from checkpoint')).toBe(true);
    expect(text(out), schedule).toBe(reference);
    expect(text(`${out}.errors.csv`), schedule).toBe(text(`${ref}.errors.csv`));
  });
});
