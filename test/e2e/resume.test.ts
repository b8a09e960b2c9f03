import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, startCli } from '../support/cli.js';
import { repeatedRequests, type SyntheticJob, syntheticJob } from '../support/e2e.js';
import { atProgress, killAndRerun, until } from '../support/kill-loop.js';

// 100 requests a second: a run of 600 users lasts ~6 s, long enough to be killed mid-way.
// Runs that only have to finish the job (reruns after a stop) go without the limit.
const RATE = ['--rate-limit', '100', '--rate-interval', '1'];
const USERS = 600;
const CONCURRENCY = 16;
const FLAGS = ['--rec-id', 'homepage,email-weekly', '--prediction-id', 'p-churn', ...RATE, '--concurrency', String(CONCURRENCY)];

const UNLIMITED = ['--rate-limit', '0'];

let job: SyntheticJob;
let emu: RunningEmulator;
let dir: string;
let input: string;
let reference: string;
beforeAll(async () => {
  // A row with no id in the middle: the errors file must not double it either.
  job = await syntheticJob({ users: USERS, flags: FLAGS, edit: (csv) => csv.replace('user-300,\n', 'user-300,\n,\n') });
  ({ emu, dir, input, reference } = job);
});
afterAll(async () => job?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const args = (out: string, extra: string[] = []) => job.args(out, extra);
const repeated = () => repeatedRequests(emu);
/** Starts a run and resolves once the emulator was asked for `users` distinct users. */
async function startAfter(users: number, out: string, extra: string[] = []) {
  const run = startCli(args(out, extra));
  await until(() => emu.asked() >= users, () => run.child.exitCode === null);
  return run;
}

describe('killed at any instant, resumed with the same command', () => {
  it('SIGKILL at random moments, then rerun until done: output byte-identical, repeats bounded', async () => {
    emu.resetStats();
    const out = join(dir, 'killed.csv');
    // Each run is killed once the emulator was asked for a seeded number of users in [0, 540):
    // maybe before its first request, never after the job could have finished.
    const kills = 4;
    const { schedule, last } = await killAndRerun({
      kills,
      seed: 600,
      start: () => startCli(args(out)),
      moment: atProgress(() => emu.asked(), kills, 0, 540),
      rerun: () => runCli(args(out, UNLIMITED)),
    });
    expect(last.code, last.stderr).toBe(0);
    expect(readFileSync(out, 'utf8'), schedule).toBe(reference);
    expect(readFileSync(`${out}.errors.csv`, 'utf8').trim().split('\n')).toHaveLength(2); // header + the one row
    // Bound per kill: what completed since the last checkpoint (≤ 1 s at 100/s, +50% for
    // the fsync and timer slack) plus what was in flight.
    const bound = kills * (150 + CONCURRENCY);
    expect(repeated(), schedule).toBeLessThanOrEqual(bound);
    expect(Object.keys(emu.stats().perId!)).toHaveLength(USERS);
  });

  it('SIGTERM: stops gracefully with exit 143 and a checkpoint, and the rerun completes identically', async () => {
    emu.resetStats();
    const out = join(dir, 'term.csv');
    const run = await startAfter(150, out);
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(143);
    expect(existsSync(`${out}.checkpoint.json`)).toBe(true);
    const cp = JSON.parse(readFileSync(`${out}.checkpoint.json`, 'utf8'));
    expect(cp.done).toBe(false);
    expect(cp.counts.users).toBeGreaterThan(0);
    expect(logLines(r.stderr).some((l) => String(l.msg).includes('stopping'))).toBe(true);
    // Graceful: everything that was answered was written, so nothing is requested twice.
    const again = await runCli(args(out, UNLIMITED));
    expect(again.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
    expect(repeated()).toBe(0);
  });

  it('SIGINT exits 130; a second signal stops at once and still leaves a valid checkpoint', async () => {
    emu.resetStats();
    const out = join(dir, 'int.csv');
    const run = await startAfter(120, out, ['--grace', '30']);
    run.child.kill('SIGINT');
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    const again = await runCli(args(out, UNLIMITED));
    expect(again.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
  });
});

describe('a checkpoint is bound to its job', () => {
  async function interrupted(name: string): Promise<string> {
    const out = join(dir, name);
    const run = startCli(args(out));
    // Killed once a checkpoint with some progress exists (a loaded machine starts slowly).
    const cp = `${out}.checkpoint.json`;
    for (let i = 0; i < 750 && !(existsSync(cp) && JSON.parse(readFileSync(cp, 'utf8')).counts.users > 0); i++) await sleep(20);
    run.child.kill('SIGKILL');
    await run.done;
    expect(existsSync(cp)).toBe(true);
    return out;
  }

  it('refuses a checkpoint of another job (other rec ids) with exit 2, naming what differs', async () => {
    const out = await interrupted('mismatch.csv');
    emu.resetStats();
    const r = await runCli(['export', '--input', input, '--output', out, '--api-url', emu.url, '--rec-id', 'homepage', '--prediction-id', 'p-churn', ...RATE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/belongs to another job: recIds \(\["homepage","email-weekly"\] then, \["homepage"\] now\).*--fresh/);
    expect(emu.stats().requests).toBe(0);
  });

  it('refuses a checkpoint whose input file changed', async () => {
    const out = await interrupted('changed.csv');
    const other = join(dir, 'users-changed.csv');
    writeFileSync(other, readFileSync(input, 'utf8'));
    const copyArgs = args(out).map((a) => (a === input ? other : a));
    const r = await runCli(copyArgs);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/belongs to another job: input path/);
  });

  it('refuses a corrupt (truncated) checkpoint with exit 2 and never restarts silently', async () => {
    const out = await interrupted('corrupt.csv');
    const cp = `${out}.checkpoint.json`;
    const text = readFileSync(cp, 'utf8');
    writeFileSync(cp, text.slice(0, text.length / 2));
    const before = readFileSync(out);
    emu.resetStats();
    const r = await runCli(args(out));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/checkpoint .* is corrupt \(not valid JSON \(truncated\?\)\).*--fresh/);
    expect(emu.stats().requests).toBe(0);
    expect(readFileSync(out).equals(before)).toBe(true);
  });

  it('--fresh gets past a corrupt checkpoint too', async () => {
    const out = await interrupted('corrupt-fresh.csv');
    writeFileSync(`${out}.checkpoint.json`, '{"version":1,"job":');
    const r = await runCli(args(out, ['--fresh', '--rate-limit', '0']));
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
  });

  it('--fresh discards the checkpoint and writes the whole export again', async () => {
    const out = await interrupted('fresh.csv');
    const r = await runCli(args(out, ['--fresh', ...UNLIMITED]));
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
  });

  it('a finished job run again says so and exits 0 without a request', async () => {
    const out = join(dir, 'twice.csv');
    expect((await runCli(args(out, ['--rate-limit', '0']))).code).toBe(0);
    emu.resetStats();
    const r = await runCli(args(out));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/already completed/);
    expect(emu.stats().requests).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
  });
});

describe('a checkpoint location that cannot be written', () => {
  it('is exit 2 with one line before any request', async () => {
    emu.resetStats();
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'a file where a directory is needed');
    const r = await runCli(args(join(dir, 'cp-blocked.csv'), ['--checkpoint', join(blocker, 'cp.json')]));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/could not write its files: --checkpoint: .*not-a-dir is not a directory/);
    expect(emu.stats().requests).toBe(0);
  });

  it('a checkpoint in a directory that does not exist yet: the directory is created', async () => {
    const out = join(dir, 'cp-newdir.csv');
    const r = await runCli(args(out, ['--checkpoint', join(dir, 'state', 'nested', 'cp.json'), '--rate-limit', '0']));
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'state', 'nested', 'cp.json'))).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe(reference);
  });
});
