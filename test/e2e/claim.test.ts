import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { type CliRun, runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';
import { type ConditionalS3, startConditionalS3 } from '../support/s3-conditional.js';
import { type LocalS3, startS3 } from '../support/s3.js';

// Two real processes on one job. The first is paused (SIGSTOP) once it holds the job, and
// resumed after the second has tried: the overlap does not depend on how fast this machine
// starts a process, and a paused process holds its claim as a running one does. Two rows
// without an id give every run an errors file.
const USERS = 200;
const FLAGS = ['--rec-id', 'homepage', '--rate-limit', '50', '--rate-interval', '1', '--no-progress'];

let emu: RunningEmulator;
let s3: LocalS3;
let proxy: ConditionalS3;
let dir: string;
let users: string;
let reference: Buffer;
let referenceErrors: Buffer;

beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  s3 = await startS3('out');
  // fauxqs ignores If-None-Match / If-Match: the CLI reaches it through a stand-in that
  // enforces them with 412 as S3 does.
  proxy = await startConditionalS3(s3.endpoint, s3.env);
  dir = tempDir('ape-claim-');
  users = join(dir, 'users.csv');
  writeFileSync(users, syntheticUsers(USERS).replace('user-50,\n', 'user-50,\n,\n').replace('user-150,\n', 'user-150,\n,\n'));
  const out = join(dir, 'solo.csv');
  const r = await runCli(['export', '--input', users, '--output', out, '--api-url', emu.url, ...FLAGS, '--rate-limit', '0']);
  expect(r.code, r.stderr).toBe(0);
  reference = readFileSync(out);
  referenceErrors = readFileSync(`${out}.errors.csv`);
});
afterAll(async () => {
  await emu?.close();
  await proxy?.close();
  await s3?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const args = (output: string, extra: string[] = [], input = users) => ['export', '--input', input, '--output', output, '--api-url', emu.url, ...FLAGS, ...extra];

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  for (const until = Date.now() + ms; Date.now() < until; await sleep(50)) {
    const v = await probe();
    if (v !== undefined) return v;
  }
  throw new Error(`waited ${ms} ms for ${what}`);
}

/** The holder record in a local lock file, once the run with this pid has written it. */
const lockedBy = (lock: string, pid: number) => () => {
  try {
    return JSON.parse(readFileSync(lock, 'utf8')).pid === pid ? true : undefined;
  } catch {
    return undefined;
  }
};

/** Runs `second` while `child` is stopped, then lets `child` go on. */
async function whilePaused<T>(child: ChildProcess, second: () => Promise<T>): Promise<T> {
  child.kill('SIGSTOP');
  try {
    return await second();
  } finally {
    child.kill('SIGCONT');
  }
}

const refusedBy = (r: CliRun, pid: number) => {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(`pid ${pid} on ${hostname()}, running since 20`);
  return lines[0]!;
};

describe('one run per job: local files', () => {
  it('a second run of the same job is refused (exit 2, the holder named, no request, no summary); a dry run is not; the first finishes byte-identical', async () => {
    emu.resetStats();
    const out = join(dir, 'same.csv');
    const summary = join(dir, 'same.summary.json');
    const first = startCli(args(out, ['--summary', summary]));
    await waitFor('the first run to hold the job', lockedBy(join(dir, '.same.csv.checkpoint.json.lock'), first.child.pid!));

    await whilePaused(first.child, async () => {
      const line = refusedBy(await runCli(args(out, ['--summary', summary])), first.child.pid!);
      expect(line).toMatch(new RegExp(`^amp-profile-export: another run of this job holds the checkpoint ${out}\\.checkpoint\\.json: pid `));
      expect(line).toContain('this run wrote nothing and sent no request');
      expect(existsSync(summary), 'the refused run wrote a summary').toBe(false);
      const dry = await runCli(args(out, ['--dry-run']));
      expect(dry.code, dry.stderr).toBe(0);
    });

    const r = await first.done;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(reference)).toBe(true);
    expect(readFileSync(`${out}.errors.csv`).equals(referenceErrors)).toBe(true);
    // One request per user: the refused run sent none (the issue: 1,110 for 600 users).
    expect(emu.stats().requests).toBe(USERS);
    expect(readdirSync(dir).filter((f) => f.endsWith('.lock'))).toEqual([]);
  });

  it('after SIGKILL of the holder the next run starts at once and resumes to the same bytes', async () => {
    const out = join(dir, 'killed.csv');
    const first = startCli(args(out));
    const checkpoint = `${out}.checkpoint.json`;
    await waitFor('a checkpoint with progress', () => (existsSync(checkpoint) && JSON.parse(readFileSync(checkpoint, 'utf8')).counts.users > 0 ? true : undefined));
    first.child.kill('SIGKILL');
    await first.done;
    // The killed run's lock file is still there: it is no claim, the kernel's lock went with the process.
    expect(existsSync(join(dir, '.killed.csv.checkpoint.json.lock'))).toBe(true);
    const next = await runCli(args(out));
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain('resuming from checkpoint');
    expect(readFileSync(out).equals(reference)).toBe(true);
  });

  it('two jobs sharing one errors file at the same time: the second is refused, the first keeps every error row', async () => {
    const shared = join(dir, 'shared-errors.csv');
    const first = startCli(args(join(dir, 'job-a.csv'), ['--errors', shared]));
    await waitFor('job a to hold its files', lockedBy(join(dir, '.shared-errors.csv.lock'), first.child.pid!));
    const other = join(dir, 'other-users.csv');
    writeFileSync(other, syntheticUsers(20, 'other-').replace('other-5,\n', 'other-5,\n,\n'));
    const second = await whilePaused(first.child, () => runCli(args(join(dir, 'job-b.csv'), ['--errors', shared], other)));
    const line = refusedBy(second, first.child.pid!);
    expect(line).toMatch(new RegExp(`another run is writing the errors file ${shared}: pid \\d+ on .+ \\(its job: ${join(dir, 'job-a.csv.checkpoint.json')}\\)`));
    expect(existsSync(join(dir, 'job-b.csv')), 'the refused job wrote its output').toBe(false);
    expect((await first.done).code).toBe(0);
    expect(readFileSync(shared).equals(referenceErrors)).toBe(true);
  });

  it('shards of one job run side by side: each has its own checkpoint and files', async () => {
    const out = join(dir, 'shard-{shard}.csv');
    const [a, b] = await Promise.all([runCli(args(out, ['--shard', '0/2'])), runCli(args(out, ['--shard', '1/2']))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
  });
});

describe('one run per job: S3 leases (through the conditional-write stand-in in front of fauxqs)', () => {
  const s3Run = (key: string, env: Record<string, string> = {}, extra: string[] = []) => startCli(args(`s3://out/${key}`, ['--s3-path-style', ...extra]), { env: { ...proxy.env, ...env } });
  const lease = (key: string) => () => s3.get('out', `.${key}.checkpoint.json.lease`).then((b) => (b ? (JSON.parse(b.toString('utf8')) as { pid: number }) : undefined));

  it('a second run of the same job is refused naming the holder and sends no request; the first finishes byte-identical, its leases removed', async () => {
    emu.resetStats();
    const key = 'same.csv';
    const first = s3Run(key);
    await waitFor('the first run to hold the lease', async () => ((await lease(key)())?.pid === first.child.pid ? true : undefined));
    const line = refusedBy(await whilePaused(first.child, () => s3Run(key).done), first.child.pid!);
    expect(line).toContain(`another run of this job holds the checkpoint s3://out/${key}.checkpoint.json: pid`);
    expect(line).toMatch(/its lease was renewed \d+ s ago and is taken over once not renewed for 120 s; if that run is gone, rerun with --take-over-lease/);
    const r = await first.done;
    expect(r.code, r.stderr).toBe(0);
    expect((await s3.get('out', key))!.equals(reference)).toBe(true);
    expect(emu.stats().requests).toBe(USERS);
    expect((await s3.keys('out')).filter((k) => k.endsWith('.lease'))).toEqual([]);
  });

  it('after SIGKILL of the holder the next run is refused until the lease time has passed, then takes over naming the old holder and resumes', async () => {
    const key = 'killed.csv';
    // Short, but long enough for renewals to get through on a loaded machine.
    const short = { AMP_EXPORT_LEASE_SECONDS: '3' };
    const first = s3Run(key, short);
    await waitFor('a checkpoint with progress', async () => {
      const cp = await s3.get('out', `${key}.checkpoint.json`);
      return cp && JSON.parse(cp.toString('utf8')).counts.users > 0 ? true : undefined;
    });
    first.child.kill('SIGKILL');
    await first.done;
    const early = await s3Run(key, short).done;
    // Refused only if the lease was still fresh when it looked (a loaded machine may take longer than 3 s to start it).
    if (early.code === 2) expect(refusedBy(early, first.child.pid!)).toContain('taken over once not renewed for 3 s');
    let next = early;
    for (let i = 0; i < 10 && next.code === 2; i++) {
      await sleep(1000);
      next = await s3Run(key, short).done;
    }
    expect(next.code, next.stderr).toBe(0);
    // Named for the leases it took from the killed run: the checkpoint's, or, when a refused run
    // in between found the checkpoint's stale but not yet the output's (each is renewed on its
    // own), took the checkpoint's and gave it back on refusal, the output's and the errors'.
    const from = `from pid ${first.child.pid} on ${hostname()}`;
    const tookOver = next.stderr.split('\n').filter((l) => l.includes('took over the lease on the'));
    expect(tookOver.length, next.stderr).toBeGreaterThan(0);
    for (const l of tookOver) expect(l).toMatch(new RegExp(`took over the lease on the (checkpoint|output|errors file) s3://out/${key.replace('.', '\\.')}\\S* ${from}`));
    if (early.code === 0) expect(next.stderr).toContain(`took over the lease on the checkpoint s3://out/${key}.checkpoint.json ${from}`);
    expect((await s3.get('out', key))!.equals(reference)).toBe(true);
  });

  it('--take-over-lease takes a live lease at once; the run it was taken from stops without touching what the new run wrote', async () => {
    const key = 'forced.csv';
    const short = { AMP_EXPORT_LEASE_SECONDS: '3' };
    const first = s3Run(key, short);
    await waitFor('a checkpoint with progress', async () => {
      const cp = await s3.get('out', `${key}.checkpoint.json`);
      return cp && JSON.parse(cp.toString('utf8')).counts.users > 0 ? true : undefined;
    });
    // The first run is alive but stuck (paused) while a person forces the job through.
    const second = await whilePaused(first.child, async () => {
      const r = await s3Run(key, short, ['--take-over-lease']).done;
      expect(r.code, r.stderr).toBe(0);
      return r;
    });
    expect(second.stderr).toContain(`took over the lease on the checkpoint s3://out/${key}.checkpoint.json from pid ${first.child.pid} on ${hostname()}`);
    expect(second.stderr).toContain('(as --take-over-lease asks)');
    const old = await first.done;
    expect(old.code, old.stderr).not.toBe(0);
    expect(old.stderr).toMatch(/amp-profile-export: lost the lease s3:\/\/out\/\..+\.lease: .+; this run stopped without writing more/);
    expect((await s3.get('out', key))!.equals(reference)).toBe(true);
    expect(JSON.parse((await s3.get('out', `${key}.checkpoint.json`))!.toString('utf8')).done).toBe(true);
  });
});
