import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator } from '../support/emulator.js';
import { fetchTimes, stateRows, untimed, usersCsv } from '../support/state.js';

// Night 2 at 100 requests a second: ~6 s, long enough to be killed a few times.
const FLAGS = ['--rec-id', 'homepage', '--prediction-id', 'p-buy', '--no-progress', '--concurrency', '16'];
const SLOW = ['--rate-limit', '100', '--rate-interval', '1'];
/** Fixed kill moments (ms after start): the test is the same on every run. */
const KILLS = [700, 1900, 3300];

let night1: RunningEmulator;
let night2: RunningEmulator;
let dir: string;
const path = (f: string) => join(dir, f);
beforeAll(async () => {
  night1 = await fixtureEmulator({ synthetic: true, epoch: 1 });
  night2 = await fixtureEmulator({ synthetic: true, epoch: 2 });
  dir = tempDir('state-resume-');
  writeFileSync(path('night1.csv'), usersCsv(0, 600));
  writeFileSync(path('night2.csv'), usersCsv(10, 610));
  const r = await runCli(['export', '--input', path('night1.csv'), '--output', path('n1.csv'), '--api-url', night1.url, ...FLAGS, '--rate-limit', '0', '--state', path('base.sqlite')]);
  expect(r.code, r.stderr).toBe(0);
  // The uninterrupted night 2.
  copyFileSync(path('base.sqlite'), path('ref.sqlite'));
  const ref = await runCli(night2Args('ref', ['--rate-limit', '0']));
  expect(ref.code, ref.stderr).toBe(0);
});
afterAll(async () => {
  await night1.close();
  await night2.close();
});

function night2Args(name: string, extra: string[] = SLOW): string[] {
  return ['export', '--input', path('night2.csv'), '--output', path(`${name}.csv`), '--api-url', night2.url, ...FLAGS, ...extra,
    '--state', path(`${name}.sqlite`), '--delta', '--removed', path(`${name}.removed.csv`)];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectSameAsReference(name: string): void {
  // The same rows but for their fetch time, which is the first attempt's in every resumed run.
  const out = readFileSync(path(`${name}.csv`), 'utf8');
  expect(untimed(out)).toBe(untimed(readFileSync(path('ref.csv'), 'utf8')));
  expect(fetchTimes(out)).toHaveLength(1);
  expect(readFileSync(path(`${name}.removed.csv`), 'utf8')).toBe(readFileSync(path('ref.removed.csv'), 'utf8'));
  expect(stateRows(path(`${name}.sqlite`))).toEqual(stateRows(path('ref.sqlite')));
}

describe('an incremental night killed anywhere and rerun', () => {
  it('reference: the delta and the removed file have rows', () => {
    expect(readFileSync(path('ref.csv'), 'utf8').trim().split('\n').length).toBeGreaterThan(20);
    expect(readFileSync(path('ref.removed.csv'), 'utf8').trim().split('\n')).toHaveLength(11);
  });

  it('SIGKILL during the run: output, removed file and state as after an uninterrupted run', async () => {
    copyFileSync(path('base.sqlite'), path('killed.sqlite'));
    let killed = 0;
    for (const at of KILLS) {
      const run = startCli(night2Args('killed'));
      await sleep(at);
      run.child.kill('SIGKILL');
      const r = await run.done;
      if (r.signal === 'SIGKILL') killed++;
      // Killed mid-run, the state has not moved on and no removed file exists yet.
      if (r.signal === 'SIGKILL') expect(existsSync(path('killed.removed.csv'))).toBe(false);
    }
    expect(killed, 'a kill must land before the run ends').toBeGreaterThan(0);
    const last = await runCli(night2Args('killed'));
    expect(last.code, last.stderr).toBe(0);
    expectSameAsReference('killed');
  });

  it('killed during the final state update: the rerun finishes it with the same removed file and state', async () => {
    copyFileSync(path('base.sqlite'), path('final.sqlite'));
    // SIGKILL at the last instant before the state's transaction commits: the removed file is
    // written, the checkpoint marked done, the transaction's journal left on disk.
    const killed = await runCli(night2Args('final', ['--rate-limit', '0']), { env: { AMP_PROFILE_EXPORT_KILL_AT: 'state-commit' } });
    expect(killed.signal, `${killed.code} ${killed.stderr}`).toBe('SIGKILL');
    expect(existsSync(path('final.sqlite-journal'))).toBe(true);
    expect(stateRows(path('final.sqlite'))).toEqual(stateRows(path('base.sqlite'))); // rolled back when read
    rmSync(path('final.removed.csv'));
    night2.resetStats();
    const rerun = await runCli(night2Args('final', ['--rate-limit', '0']));
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(night2.stats().requests).toBe(0); // nothing fetched again: the staged results were enough
    expectSameAsReference('final');
    // Killed after the commit: the rerun has nothing left to do and changes nothing.
    const again = await runCli(night2Args('final', ['--rate-limit', '0']));
    expect(again.code, again.stderr).toBe(0);
    expectSameAsReference('final');
  });
});
