import { readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { fixture, runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator } from '../support/emulator.js';

/** The golden files in fixtures/expected were checked by hand against fixtures/profiles.json. */
const FLAGS = ['--rec-id', 'homepage,email-weekly', '--prediction-id', 'p-churn,p-buy', '--cohort-ids', '--max-items', '5', '--rate-limit', '0'];

let emu: RunningEmulator;
let dir: string;
beforeAll(async () => {
  emu = await fixtureEmulator();
  dir = tempDir();
});
afterAll(async () => emu.close());

const exportTo = (output: string, extra: string[] = [], input = fixture('users.csv')) =>
  runCli(['export', '--input', input, '--output', output, '--api-url', emu.url, ...FLAGS, ...extra]);

describe('export of the fixture users', () => {
  it('writes the expected CSV, byte for byte, and the unreadable row to the errors file', async () => {
    const out = join(dir, 'users.csv');
    const r = await exportTo(out);
    expect(r.stderr).not.toMatch(/"level":(50|60)/);
    expect(r.stderr).not.toMatch(/Warning/); // e.g. MaxListenersExceededWarning from 16 requests on one signal
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
    expect(readFileSync(`${out}.errors.csv`, 'utf8')).toBe(readFileSync(fixture('expected/users.errors.csv'), 'utf8'));
  });

  it('writes the expected JSONL (format from the extension)', async () => {
    const out = join(dir, 'users.jsonl');
    const r = await exportTo(out);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(fixture('expected/users.jsonl'), 'utf8'));
  });

  it('reads a BOM, CRLF line ends and a quoted newline the same as plain LF', async () => {
    const plain = readFileSync(fixture('users.csv'), 'utf8');
    const crlf = '\uFEFF' + plain.replace(/\n/g, '\r\n').replace('carol@example.com', '"carol\r\n@example.com"');
    const input = join(dir, 'users-crlf.csv');
    writeFileSync(input, crlf);
    const out = join(dir, 'crlf.csv');
    const r = await exportTo(out, [], input);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
    // The row with no id is on line 13 now: the quoted newline before it adds a line.
    expect(readFileSync(`${out}.errors.csv`, 'utf8')).toContain(',,13,no user_id or device_id,,0');
  });

  it('writes to stdout with --output - and says once that it cannot resume', async () => {
    const r = await runCli(['export', '--input', fixture('users.csv'), '--output', '-', '--errors', join(dir, 'stdout.errors.csv'), '--api-url', emu.url, ...FLAGS]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
    expect(r.stderr.match(/cannot be resumed/g)).toHaveLength(1);
  });

  it('reads users from stdin with --input -', async () => {
    const out = join(dir, 'stdin.csv');
    const r = await runCli(['export', '--input', '-', '--output', out, '--api-url', emu.url, ...FLAGS], { input: readFileSync(fixture('users.csv'), 'utf8') });
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
  });

  it('without --rec-id writes one row per user and no rec or item columns', async () => {
    const out = join(dir, 'norecs.csv');
    const r = await runCli(['export', '--input', fixture('users.csv'), '--output', out, '--api-url', emu.url, '--prediction-id', 'p-buy', '--rate-limit', '0']);
    expect(r.code).toBe(0);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('user_id,device_id,propensity_p-buy,status');
    expect(lines).toHaveLength(1 + 19);
    expect(lines).toContain('u-1001,d-7f3a9c21-1001,0.734,ok');
    expect(lines).toContain('u-unknown-1,,,unknown_user');
  });

  it('ends with a summary log line whose counts match the output', async () => {
    const out = join(dir, 'summary.csv');
    const r = await exportTo(out);
    const last = r.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).at(-1);
    expect(last).toMatchObject({ msg: 'export finished', users: 19, ok: 13, no_recs: 4, unknown_user: 2, failed: 0, skipped: 1, rows: 32, requests: 19 });
  });
});

describe('bad input: one clear line, exit 2, no request sent', () => {
  const cases: Array<[string, () => string[], RegExp, Record<string, string | undefined>?]> = [
    ['a missing input file', () => ['--input', join(dir, 'nope.csv')], /--input .*nope\.csv: no such file/],
    ['an input that is a directory', () => ['--input', dir], /not a regular file/],
    ['no id column', () => ['--input', write('noid.csv', 'email,name\na@b.c,A\n')], /no user_id or device_id column in the header \(email,name\)/],
    ['an empty input', () => ['--input', write('empty.csv', '')], /the file is empty/],
    ['an unknown flag', () => ['--input', fixture('users.csv'), '--rec-idd', 'x'], /Unknown argument: rec-idd/],
    ['a non-number where a number belongs', () => ['--input', fixture('users.csv'), '--concurrency', 'lots'], /--concurrency expects a whole number .* got something that is not a number/],
    ['a bad --format', () => ['--input', fixture('users.csv'), '--format', 'xml'], /--format expects csv or jsonl, got xml/],
    ['no secret key', () => ['--input', fixture('users.csv')], /no secret key: set AMPLITUDE_SECRET_KEY or pass --secret-key-file/, { AMPLITUDE_SECRET_KEY: undefined }],
    ['a misspelt AMP_EXPORT_ environment variable', () => ['--input', fixture('users.csv')], /Unknown argument: rateLimt \(from the environment variable AMP_EXPORT_RATE_LIMT/, { AMP_EXPORT_RATE_LIMT: '5' }],
    ['an unreadable secret key file', () => ['--input', fixture('users.csv'), '--secret-key-file', join(dir, 'missing-key')], /cannot read --secret-key-file/],
  ];
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  // The cases run side by side (each is one short process): none may send a request, so the
  // count is reset once here and must still be 0 after each.
  beforeAll(() => emu.resetStats());

  it.concurrent.for(cases)('%s', async ([name, args, message, env], { expect }) => {
    // One output per case: runs side by side on one output would meet each other's claim.
    const out = join(dir, `bad-${name.replace(/\W+/g, '-')}.csv`);
    const r = await runCli(['export', '--output', out, '--api-url', emu.url, ...args()], { env: env ?? {} });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(emu.stats().requests).toBe(0);
    expect(existsSync(out)).toBe(false);
  });

  // Root reads everything: nothing to provoke there, and vitest reports the test as skipped.
  it.skipIf(process.getuid?.() === 0)('an unreadable input file (no permission) is exit 2', async () => {
    const p = write('locked.csv', 'user_id\nu1\n');
    chmodSync(p, 0o000);
    const r = await runCli(['export', '--input', p, '--output', join(dir, 'x.csv'), '--api-url', emu.url]);
    expect(r.code).toBe(2);
  });
});
