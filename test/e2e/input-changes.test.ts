import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { CLI, logLines, runCli, startCli, tempDir, type CliRun } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

/**
 * Input that changes while a run reads it, or that misbehaves deep inside: through the built
 * CLI and real HTTP against the emulator.
 */
let emu: RunningEmulator;
let dir: string;
beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  dir = tempDir('ape-input-');
});
afterAll(async () => emu.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (p: string) => readFileSync(p, 'utf8');
const requested = () => Object.keys(emu.stats().perId ?? {});
const exportArgs = (input: string, out: string, extra: string[] = []) => ['export', '--input', input, '--output', out, '--api-url', emu.url, '--no-progress', ...extra];
/** Temporary checkpoint files (`.<name>.<pid>.tmp`) in a directory. */
const temps = (d: string) => readdirSync(d).filter((f) => f.endsWith('.tmp'));

async function until(what: () => boolean, ms = 20_000): Promise<void> {
  for (const t0 = Date.now(); !what(); await sleep(20)) if (Date.now() - t0 > ms) throw new Error('timed out');
}

describe('a local input that changes during the run', () => {
  // 40 requests a second: 80 users last about 2 s, long enough to append rows mid-run.
  const SLOW = ['--rate-limit', '40', '--rate-interval', '1', '--concurrency', '2'];
  const ORIGINAL = syntheticUsers(80);
  const APPENDED = 'late-1,\nlate-2,\n';
  let reference: string;
  beforeAll(async () => {
    const input = join(dir, 'ref-in.csv');
    writeFileSync(input, ORIGINAL);
    const r = await runCli(exportArgs(input, join(dir, 'ref.csv'), ['--rate-limit', '0']));
    expect(r.code, r.stderr).toBe(0);
    reference = text(join(dir, 'ref.csv'));
  });

  it('rows appended mid-run: exit 2 naming the file; the output is the file as it was; the rerun is told to use --fresh', async () => {
    const input = join(dir, 'grows.csv');
    const out = join(dir, 'grows-out.csv');
    writeFileSync(input, ORIGINAL);
    const run = startCli(exportArgs(input, out, SLOW));
    await until(() => existsSync(`${out}.checkpoint.json`));
    appendFileSync(input, APPENDED);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(2);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(new RegExp(`--input ${input} changed during the run \\(${ORIGINAL.length} bytes, .*; ${ORIGINAL.length + APPENDED.length} bytes, .* now\\).*rerun with --fresh`));
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // Every original row, none of the appended ones, and the same bytes as an unchanged run.
    expect(text(out)).toBe(reference);
    expect(requested()).not.toContain('late-1');
    // The checkpoint stays unfinished and bound to the file as it was.
    const cp = JSON.parse(text(`${out}.checkpoint.json`)) as { done: boolean; job: { input: { size: number } } };
    expect(cp).toMatchObject({ done: false, job: { input: { size: ORIGINAL.length } } });
    expect(temps(dir)).toEqual([]);

    const again = await runCli(exportArgs(input, out, SLOW));
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/input file changed .*cannot be resumed any more: add --fresh/);
    expect(again.stderr).not.toMatch(/Rerun the original command/);

    emu.resetStats();
    const fresh = await runCli(exportArgs(input, out, ['--rate-limit', '0', '--fresh']));
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(text(out)).toBe(`${reference}late-1,,ok\nlate-2,,ok\n`);
  });

  it('killed, then the input changed: the refusal says --fresh; put back as it was, the checkpoint resumes it byte-identical', async () => {
    const input = join(dir, 'killed.csv');
    const out = join(dir, 'killed-out.csv');
    writeFileSync(input, ORIGINAL);
    const mtime = Math.floor(Date.now() / 1000) - 60; // whole seconds: set again exactly below
    utimesSync(input, mtime, mtime);
    const run = startCli(exportArgs(input, out, SLOW));
    await until(() => existsSync(`${out}.checkpoint.json`) && existsSync(out) && text(out).split('\n').length > 10);
    run.child.kill('SIGKILL');
    await run.done;

    appendFileSync(input, APPENDED);
    const refused = await runCli(exportArgs(input, out, SLOW));
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n').at(-1)).toMatch(
      /^amp-profile-export: checkpoint .*killed-out\.csv\.checkpoint\.json belongs to another job: input file changed .*That job cannot be resumed any more: add --fresh/,
    );

    // The original job is still resumable: the same bytes and modification time again.
    writeFileSync(input, ORIGINAL);
    utimesSync(input, mtime, mtime);
    const resumed = await runCli(exportArgs(input, out, ['--rate-limit', '0']));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(logLines(resumed.stderr).some((l) => l.msg === 'resuming from checkpoint')).toBe(true);
    expect(text(out)).toBe(reference);
  });
});

describe('a NUL byte past the first 64 KiB', () => {
  // A 300-byte note column puts line 250 well past the 64 KiB that are checked for binary data.
  const NOTE = 'n'.repeat(300);
  const rows = ['user_id,device_id,first_name,note'];
  for (let i = 2; i <= 300; i++) rows.push(`user-${i},,Ann,${NOTE}`);
  rows[249] = 'user-\u0000250,,Ann,x'; // line 250: a NUL in the id
  rows[259] = 'user-260,,A\u0000nn,x'; // line 260: in a passthrough column
  rows[269] = 'user-270,,Ann,x\u0000y'; // line 270: in a column the output does not read
  const CSV = `${rows.join('\n')}\n`;

  it('sends a row with a NUL in an id or a carried column to the errors file; the API and the output never see it', async () => {
    expect(CSV.indexOf('\0')).toBeGreaterThan(64 * 1024);
    const input = join(dir, 'nul.csv');
    const out = join(dir, 'nul-out.csv');
    writeFileSync(input, CSV);
    emu.resetStats();
    const r = await runCli(exportArgs(input, out, ['--rate-limit', '0', '--passthrough', 'first_name']));
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).includes(0)).toBe(false);
    expect(text(out)).not.toMatch(/user-250|user-260/);
    expect(text(out)).toMatch(/\nuser-270,,Ann,ok\n/);
    const errs = readFileSync(`${out}.errors.csv`);
    expect(errs.includes(0)).toBe(false);
    expect(errs.toString('utf8')).toBe(
      [
        'user_id,device_id,line,reason,http_status,attempts',
        'user-\uFFFD250,,250,NUL byte in user_id (binary data in a text file),,0',
        'user-260,,260,NUL byte in first_name (binary data in a text file),,0',
        '',
      ].join('\n'),
    );
    expect(requested().some((id) => id.includes('\u0000') || id === 'user-260')).toBe(false);
    expect(requested()).toHaveLength(297);
  });
});

describe('a very wide header, with the shipped heap limit', () => {
  /** The built CLI run as installed: its shebang sets --max-old-space-size=128. */
  function shipped(args: string[]): Promise<CliRun> {
    const child = spawn(CLI, args, { env: { ...process.env, AMPLITUDE_SECRET_KEY: 'demo-secret-key' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  }

  /** A CSV of `width` columns (user_id first) and `users` full rows, written without holding it whole. */
  function wide(path: string, width: number, users: number): void {
    const fd = openSync(path, 'w');
    const names = ['user_id'];
    for (let i = 1; i < width; i++) names.push(`c${i}`);
    writeSync(fd, `${names.join(',')}\n`);
    const cells = `,${Array.from({ length: width - 1 }, (_, i) => `v${i % 1000}`).join(',')}\n`;
    for (let u = 0; u < users; u++) writeSync(fd, `wide-${u}${cells}`);
    closeSync(fd);
  }

  it('1,000,000 columns: exit 2 with one line before any request, no heap exhaustion, no file left behind', async () => {
    const d = tempDir('ape-wide-');
    const input = join(d, 'million.csv');
    wide(input, 1_000_000, 3);
    emu.resetStats();
    const r = await shipped(exportArgs(input, join(d, 'out.csv')));
    expect(r.code, r.stderr.slice(-2000)).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `amp-profile-export: ${input}: the header row has 1,000,000 columns, more than the 16,384 read (the widest sheet a spreadsheet saves): is it the users file, with line ends after the header?`,
    ]);
    expect(requested()).toEqual([]);
    expect(readdirSync(d)).toEqual(['million.csv']);
  }, 120_000);

  it('16,384 columns: exported; the checkpoint keeps only the columns the output reads', async () => {
    const d = tempDir('ape-wide-');
    const input = join(d, 'widest.csv');
    wide(input, 16_384, 40);
    const out = join(d, 'out.csv');
    const r = await shipped(exportArgs(input, out, ['--rate-limit', '0', '--passthrough', 'c16383:last']));
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const lines = text(out).trim().split('\n');
    expect(lines[0]).toBe('user_id,device_id,last,status');
    expect(lines.slice(1)).toEqual(Array.from({ length: 40 }, (_, u) => `wide-${u},,v382,ok`));
    const cp = text(`${out}.checkpoint.json`);
    expect(JSON.parse(cp)).toMatchObject({ done: true, input: { header: ['user_id', 'c16383'], columns: [0, 16383] } });
    expect(cp.length).toBeLessThan(4096);
    expect(temps(d)).toEqual([]);
  }, 120_000);
});
