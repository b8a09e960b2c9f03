import type { CliRun, startCli } from './cli.js';

type Run = ReturnType<typeof startCli>;

/**
 * "Killed at any instant, rerun until done": the loop the resume tests share. Kill moments are
 * drawn from a seeded generator, so a failure names a schedule that can be replayed
 * (KILL_SEED=<seed> in the environment overrides every loop's seed, to replay it or to try
 * others). Every run must really die by SIGKILL: one that finished before its kill tests
 * nothing, and fails the test instead of counting as a kill.
 */
export interface KillLoop {
  /** Runs to kill, one after the other. */
  kills: number;
  seed: number;
  start: () => Run;
  /**
   * Waits for the moment to kill run `k` and describes it for the failure messages. `alive()`
   * turns false when the run ended by itself; `random` gives seeded numbers in [0, 1).
   */
  moment: (k: number, alive: () => boolean, random: () => number) => Promise<string>;
  /** Checks after each kill. */
  afterKill?: (k: number) => Promise<void> | void;
  /** The run that must complete the job; its result is returned. */
  rerun: () => Promise<CliRun>;
}

export interface KillLoopResult {
  /** Seed and moments, for assertion messages. */
  schedule: string;
  last: CliRun;
}

export async function killAndRerun(o: KillLoop): Promise<KillLoopResult> {
  const seed = process.env.KILL_SEED ? Number(process.env.KILL_SEED) : o.seed;
  const random = mulberry32(seed);
  const moments: string[] = [];
  for (let k = 0; k < o.kills; k++) {
    const run = o.start();
    const alive = () => run.child.exitCode === null && run.child.signalCode === null;
    let moment: string;
    try {
      moment = await o.moment(k, alive, random);
    } catch (err) {
      run.child.kill('SIGKILL');
      await run.done;
      throw err;
    }
    moments.push(moment);
    run.child.kill('SIGKILL');
    const r = await run.done;
    if (r.signal !== 'SIGKILL') {
      throw new Error(`kill ${k} (${moment}, seed ${seed}): the run ended by itself (exit ${r.code}) before its kill, so it tests no kill\n${r.stderr.slice(-1500)}`);
    }
    await o.afterKill?.(k);
  }
  const last = await o.rerun();
  return { schedule: `seed ${seed}, killed at: ${moments.join('; ')}`, last };
}

/**
 * Resolves once `ready()` holds or the run ended, checking every 5 ms. No deadline of its own:
 * a run that neither progresses nor ends is caught by the test's timeout.
 */
export async function until(ready: () => boolean | Promise<boolean>, alive: () => boolean): Promise<void> {
  while (alive() && !(await ready())) await new Promise((r) => setTimeout(r, 5));
}

/**
 * A `moment` that kills run k once the job has made progress `points[k]` (e.g. distinct users
 * the emulator was asked for), the points drawn increasing in [from, to) on first use. Keeping
 * `to` below the job's size leaves every run work to be killed in; `from` 0 lets a run die
 * before its first request.
 */
export function atProgress(progress: () => number, kills: number, from: number, to: number, what = 'users asked') {
  let points: number[] | undefined;
  return async (k: number, alive: () => boolean, random: () => number): Promise<string> => {
    points ??= Array.from({ length: kills }, () => from + Math.floor(random() * (to - from))).sort((a, b) => a - b);
    const target = points[k]!;
    await until(() => progress() >= target, alive);
    return `${target} ${what}`;
  };
}

/** A small, well-known seeded generator (mulberry32): numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
