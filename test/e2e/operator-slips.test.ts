import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

/**
 * An operator's slips that destroyed data with exit 0, and a machine's accidents (a full disk,
 * a read-only directory) that ended as "unexpected error" exit 1 with no file named.
 */
const USERS = 3000;
let emu: RunningEmulator;
let dir: string;
let input: string;
let inputBytes: string;
let reference: string;

beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  dir = tempDir();
  input = join(dir, 'in.csv');
  writeFileSync(input, syntheticUsers(USERS));
  inputBytes = readFileSync(input, 'utf8');
  const r = await runCli(args(input, join(dir, 'reference.csv')));
  expect(r.code, r.stderr).toBe(0);
  reference = readFileSync(join(dir, 'reference.csv'), 'utf8');
});
afterAll(async () => emu.close());

function args(inPath: string, out: string, extra: string[] = []): string[] {
  return ['export', '--input', inPath, '--output', out, '--api-url', emu.url, '--rec-id', 'homepage', '--rate-limit', '0', '--no-progress', ...extra];
}

/** Lines on stderr that are not JSON log lines: what a person reads. */
const said = (stderr: string) => stderr.split('\n').filter((l) => l && !l.startsWith('{'));

describe('every location a run reads or writes is distinct', () => {
  const cases: Array<[string, (d: string) => { inPath: string; out: string; extra: string[]; flags: RegExp }]> = [
    ['--errors is the input', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 'o.csv'), extra: ['--errors', join(d, 'in.csv')], flags: /--input and --errors/ })],
    ['--output is the input', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 'in.csv'), extra: [], flags: /--input and --output/ })],
    ['--output is a symlink to the input', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 'link.csv'), extra: [], flags: /--input and --output/ })],
    ['--output is a hard link to the input', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 'hard.csv'), extra: [], flags: /--input and --output/ })],
    ['--errors is the output', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 'o3.csv'), extra: ['--errors', join(d, 'o3.csv')], flags: /--output and --errors/ })],
    ['--checkpoint is the output', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 'o4.csv'), extra: ['--checkpoint', join(d, 'o4.csv')], flags: /--output and --checkpoint/ })],
    ['--summary is the errors file, through {date}', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 'o5.csv'), extra: ['--errors', join(d, 'e-{date}.csv'), '--summary', join(d, `e-${new Date().toISOString().slice(0, 10)}.csv`)], flags: /--errors and --summary/ })],
    ['--errors is one of the split output\'s numbered files', (d) => ({ inPath: join(d, 'in.csv'), out: join(d, 's.csv'), extra: ['--split-rows', '100', '--errors', join(d, 's-00002.csv')], flags: /--errors .* split --output/ })],
  ];

  for (const [name, make] of cases) {
    it(`${name}: exit 2 naming both flags, in a real run and a dry run; nothing written, no request sent`, async () => {
      const d = tempDir();
      writeFileSync(join(d, 'in.csv'), inputBytes);
      symlinkSync(join(d, 'in.csv'), join(d, 'link.csv'));
      linkSync(join(d, 'in.csv'), join(d, 'hard.csv'));
      const c = make(d);
      emu.resetStats();
      for (const extra of [[], ['--dry-run']]) {
        const r = await runCli(args(c.inPath, c.out, [...c.extra, ...extra]));
        expect(r.code, r.stderr).toBe(2);
        expect(said(r.stderr)).toHaveLength(1);
        expect(said(r.stderr)[0]).toMatch(c.flags);
      }
      expect(emu.stats().requests).toBe(0);
      expect(readFileSync(join(d, 'in.csv'), 'utf8')).toBe(inputBytes);
      for (const f of ['o.csv', 'o3.csv', 'o4.csv', 'o5.csv', 's-00001.csv', 'o.csv.checkpoint.json', 'in.csv.checkpoint.json']) expect(existsSync(join(d, f)), f).toBe(false);
    });
  }

  it('the same file read twice is fine: --summary and --metrics-file elsewhere, the run completes', async () => {
    const d = tempDir();
    const r = await runCli(args(input, join(d, 'ok.csv'), ['--summary', join(d, 'summary.json'), '--metrics-file', join(d, 'metrics.prom')]));
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(d, 'ok.csv'), 'utf8')).toBe(reference);
  });
});

describe('a file that cannot be written is exit 2 before the run, in a real run as in a dry run', () => {
  it('the output is a directory', async () => {
    const d = tempDir();
    mkdirSync(join(d, 'out.csv'));
    for (const extra of [[], ['--dry-run']]) {
      const r = await runCli(args(input, join(d, 'out.csv'), extra));
      expect(r.code, r.stderr).toBe(2);
      expect(said(r.stderr)).toEqual([expect.stringMatching(/--output: .*out\.csv is a directory/)]);
    }
  });
});

/** Mounting a small or read-only file system needs root (CI runs as root). */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = tempDir('ape-mnt-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const mountable = canMount();
if (!mountable && process.env.CI) throw new Error('CI must run as root with mount(8) allowed: the disk-full and read-only tests need a tmpfs');
if (!mountable) console.warn('\n*** SKIPPED: disk-full and read-only directory tests (need root and mount for a small tmpfs) ***\n');

describe.skipIf(!mountable)('the machine fails the run (tmpfs mounts, root)', () => {
  const mounts: string[] = [];
  const mount = (opts: string) => {
    const m = tempDir('ape-mnt-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', m]);
    mounts.push(m);
    return m;
  };
  afterAll(() => {
    for (const m of mounts) execFileSync('umount', [m]);
  });

  it('a read-only directory: exit 2 naming the flag and the directory, real run and dry run', async () => {
    const m = mount('size=64k,ro');
    for (const extra of [[], ['--dry-run']]) {
      const r = await runCli(args(input, join(m, 'out.csv'), ['--checkpoint', join(dir, 'ro.checkpoint.json'), '--errors', join(dir, 'ro.errors.csv'), ...extra]));
      expect(r.code, r.stderr).toBe(2);
      expect(said(r.stderr)).toEqual([expect.stringMatching(new RegExp(`--output: cannot create files in ${m}`))]);
    }
  });

  it('a full disk mid-run: exit 5 naming the file, the summary counts what was committed, and the rerun with room resumes byte-identical', async () => {
    const m = mount('size=200k');
    const out = join(m, 'o.csv');
    const summary = join(dir, 'full-summary.json');
    // 1,500 a second: the disk fills after a checkpoint or two (one a second) has committed users.
    const r = await runCli(args(input, out, ['--summary', summary, '--rate-limit', '1500', '--rate-interval', '1']));
    expect(r.code, r.stderr).toBe(5);
    expect(said(r.stderr)).toEqual([expect.stringMatching(new RegExp(`cannot write ${m}/o\\.csv.*ENOSPC.*rerun the same command to resume`))]);
    const s = JSON.parse(readFileSync(summary, 'utf8'));
    const cp = JSON.parse(readFileSync(`${out}.checkpoint.json`, 'utf8'));
    expect(s.users).toBeGreaterThan(0);
    expect(s.users).toBe(cp.counts.users);
    expect(s.rows).toBe(cp.counts.rows);
    expect(s.exitCode).toBe(5);
    expect(logLines(r.stderr).at(-1)).toMatchObject({ users: cp.counts.users, exitCode: 5 });
    // The committed prefix is exactly the reference's.
    expect(reference.startsWith(readFileSync(out, 'utf8').slice(0, cp.outputBytes))).toBe(true);

    execFileSync('mount', ['-o', 'remount,size=8m', m]);
    const again = await runCli(args(input, out, ['--summary', summary]));
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
    expect(JSON.parse(readFileSync(summary, 'utf8')).users).toBe(USERS);
  });
});
