import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, tempDir } from '../support/cli.js';
import { conditionalWrites } from '../support/conditional-s3.js';
import { fixtureEmulator } from '../support/emulator.js';
import { type LocalS3, startS3 } from '../support/s3.js';
import { stateRows, untimed, usersCsv } from '../support/state.js';

const FLAGS = ['--rec-id', 'homepage', '--prediction-id', 'p-buy', '--rate-limit', '0', '--no-progress', '--s3-path-style'];

let s3: LocalS3;
let gate: Awaited<ReturnType<typeof conditionalWrites>>;
let night1: RunningEmulator;
let night2: RunningEmulator;
let dir: string;
let env: Record<string, string>;
const path = (f: string) => join(dir, f);
beforeAll(async () => {
  s3 = await startS3('state');
  gate = await conditionalWrites(s3.endpoint);
  env = { ...s3.env, AWS_ENDPOINT_URL_S3: gate.endpoint };
  night1 = await fixtureEmulator({ synthetic: true, epoch: 1 });
  night2 = await fixtureEmulator({ synthetic: true, epoch: 2 });
  dir = tempDir('state-s3-');
  writeFileSync(path('night1.csv'), usersCsv(0, 100));
  writeFileSync(path('night2.csv'), usersCsv(5, 105));
});
afterAll(async () => {
  await night1.close();
  await night2.close();
  await gate.close();
  await s3.stop();
});

/** A night against `state`, its checkpoint (and so its staging file) on S3 as a pod keeps it. */
const night = (emu: RunningEmulator, input: string, name: string, state: string, extra: string[] = [], more: Record<string, string> = {}) =>
  runCli(['export', '--input', path(input), '--output', path(`${name}.csv`), '--checkpoint', `s3://state/${name}.checkpoint.json`, '--api-url', emu.url, ...FLAGS,
    '--state', state, '--delta', '--removed', `s3://state/${name}.removed.csv`, ...extra], { env: { ...env, ...more } });

/** The state object's users, read through a local copy. */
async function s3StateRows(key: string) {
  const local = path(`copy-${key.replace(/\W/g, '_')}`);
  writeFileSync(local, (await s3.get('state', key))!);
  return stateRows(local);
}

describe('--state s3://', () => {
  it('fetched at the start, put back at completion: nights 1 and 2 as with a local state', async () => {
    expect((await night(night1, 'night1.csv', 'a1', 's3://state/a.sqlite')).code).toBe(0);
    const r = await night(night2, 'night2.csv', 'a2', 's3://state/a.sqlite');
    expect(r.code, r.stderr).toBe(0);
    // The same night with a local state gives the same bytes.
    expect((await night(night1, 'night1.csv', 'l1', path('l.sqlite'))).code).toBe(0);
    expect((await night(night2, 'night2.csv', 'l2', path('l.sqlite'))).code).toBe(0);
    expect(await s3.get('state', 'a2.removed.csv')).toEqual(await s3.get('state', 'l2.removed.csv'));
    expect((await s3.get('state', 'a2.removed.csv'))!.toString().trim().split('\n')).toHaveLength(6);
    expect(await s3StateRows('a.sqlite')).toEqual(stateRows(path('l.sqlite')));
    // The staging object is gone once the state holds the run.
    expect(await s3.keys('state', 'a2.checkpoint.json.state-staging')).toEqual([]);
  });

  it('a planned night reads an s3:// input twice (the plan, then the run): two nights as from a local file', async () => {
    await s3.put('state', 'in/users.csv', readFileSync(path('night1.csv')));
    const planned = (input: string, name: string, state: string) =>
      runCli(['export', '--input', input, '--output', path(`${name}.csv`), '--api-url', night1.url, ...FLAGS, '--state', state, '--refresh-budget', '40', '--summary', path(`${name}.json`)], { env });
    const counts = (name: string) => {
      const s = JSON.parse(readFileSync(path(`${name}.json`), 'utf8'));
      return { refreshed: s.refreshed, carried: s.carried, not_fetched: s.not_fetched };
    };
    for (const n of [1, 2]) {
      const [remote, local] = await Promise.all([planned('s3://state/in/users.csv', `p-s3-${n}`, 's3://state/p.sqlite'), planned(path('night1.csv'), `p-local-${n}`, path('p.sqlite'))]);
      expect(remote.code, remote.stderr).toBe(0);
      expect(local.code, local.stderr).toBe(0);
      expect(untimed(readFileSync(path(`p-s3-${n}.csv`), 'utf8'))).toBe(untimed(readFileSync(path(`p-local-${n}.csv`), 'utf8')));
      expect(counts(`p-s3-${n}`)).toEqual(counts(`p-local-${n}`));
    }
    // 38 a night (two of the 40 kept for retries): night two refreshed 38 more and carried the first 38.
    expect(counts('p-s3-2')).toEqual({ refreshed: 38, carried: 38, not_fetched: 24 });
  });

  it('another run moved the state on meanwhile: exit 2 saying so, the output complete, the other run kept', async () => {
    expect((await night(night1, 'night1.csv', 'b1', 's3://state/b.sqlite')).code).toBe(0);
    const before = gate.refused();
    // The other run's state lands while this one runs (between its fetch and its put).
    const other = (await s3.get('state', 'a.sqlite'))!;
    const slow = night(night2, 'night2.csv', 'b2', 's3://state/b.sqlite', ['--rate-limit', '30', '--rate-interval', '1']);
    // Its first checkpoint is written after the state was fetched.
    while (!(await s3.exists('state', 'b2.checkpoint.json'))) await new Promise((r) => setTimeout(r, 100));
    await s3.put('state', 'b.sqlite', other);
    const r = await slow;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/another run moved the state on since this one fetched it; this run's output is complete/);
    expect(gate.refused()).toBe(before + 1);
    expect(readFileSync(path('b2.csv'), 'utf8').trim().split('\n').length).toBeGreaterThan(5); // header and the delta
    expect((await s3.get('state', 'b.sqlite'))!.equals(other)).toBe(true);
  });

  it('the pod dies after the state update, before the put: the rerun (a new pod) finishes from what is on S3', async () => {
    expect((await night(night1, 'night1.csv', 'c1', 's3://state/c.sqlite')).code).toBe(0);
    // A machine's temporary directory, shared by the killed run and the rerun (a cron host).
    const tmp = tempDir('state-s3-tmp-');
    const killed = await night(night2, 'night2.csv', 'c2', 's3://state/c.sqlite', [], { AMP_PROFILE_EXPORT_KILL_AT: 'state-put', TMPDIR: tmp });
    expect(killed.signal).toBe('SIGKILL');
    // Its local copy of the state is left behind: nothing runs after a SIGKILL.
    const left = readdirSync(tmp).filter((n) => n.startsWith('ape-state-'));
    expect(left).toHaveLength(1);
    expect(readdirSync(join(tmp, left[0]!))).toContain('state.sqlite');
    night2.resetStats();
    // The dead pod's lease stands until it expires; the new pod's operator knows it is gone.
    const rerun = await night(night2, 'night2.csv', 'c2', 's3://state/c.sqlite', ['--take-over-lease'], { TMPDIR: tmp });
    expect(rerun.code, rerun.stderr).toBe(0);
    // The rerun removed the killed run's copy, and its own.
    expect(readdirSync(tmp)).toEqual([]);
    expect(logLines(rerun.stderr).find((l) => l['msg'] === 'removed 1 temporary directory left by runs that were killed')).toMatchObject({ removed: left });
    expect(night2.stats().requests).toBe(0);
    expect(await s3.get('state', 'c2.removed.csv')).toEqual(await s3.get('state', 'l2.removed.csv'));
    expect(await s3StateRows('c.sqlite')).toEqual(stateRows(path('l.sqlite')));
  });

  it('a stop signal while the state is fetched: exit 143 at once, no request, no file opened, its local copy removed', async () => {
    expect((await night(night1, 'night1.csv', 'd1', 's3://state/d.sqlite')).code).toBe(0);
    const before = await s3.get('state', 'd.sqlite');
    const tmp = tempDir('state-s3-tmp-');
    night2.resetStats();
    // SIGTERM as the download starts: the run does not wait for a state of gigabytes to arrive.
    const r = await night(night2, 'night2.csv', 'd2', 's3://state/d.sqlite', [], { AMP_PROFILE_EXPORT_KILL_AT: 'state-fetch', AMP_PROFILE_EXPORT_KILL_SIGNAL: 'SIGTERM', TMPDIR: tmp });
    expect(r.code, r.stderr).toBe(143);
    expect(logLines(r.stderr).map((l) => l['msg'])).toContain('stopped while fetching the state s3://state/d.sqlite: nothing was requested or written');
    expect(night2.stats().requests).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(dir)).not.toContain('d2.csv');
    expect(await s3.get('state', 'd2.checkpoint.json')).toBeUndefined();
    expect(await s3.get('state', 'd.sqlite')).toEqual(before);
    const rerun = await night(night2, 'night2.csv', 'd2', 's3://state/d.sqlite', [], { TMPDIR: tmp });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await s3StateRows('d.sqlite')).toEqual(stateRows(path('l.sqlite')));
  });

  it('a state on S3 that cannot be used: exit 2, and its local copy is not left in the temporary directory', async () => {
    await s3.put('state', 'junk.sqlite', 'not a SQLite database at all, just text');
    const tmp = tempDir('state-s3-tmp-');
    const r = await night(night1, 'night1.csv', 'j1', 's3://state/junk.sqlite', [], { TMPDIR: tmp });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/not a SQLite database, or a corrupt one/);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
