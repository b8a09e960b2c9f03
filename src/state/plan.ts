import type { StartPlan } from '../checkpoint/plan.js';
import type { StateOptions } from '../config.js';
import { ExitError } from '../errors.js';
import type { StateMeta } from './db.js';

/** What a run does with its state, decided from the checkpoint's plan and the state's meta. Pure. */
export type StatePlan =
  /** Deliver against the state; `run` names this run's results, `base` the state it compares with. */
  | { kind: 'run'; run: string; base: string | null; resume: boolean }
  /** The export finished but the state update did not (killed during it): apply the staged results. */
  | { kind: 'finish'; run: string }
  /** The export finished and the state holds its results (or moved on since): nothing to do. */
  | { kind: 'done'; note?: string };

const refused = (msg: string) => new ExitError('checkpoint', msg);

/**
 * - a fresh start: a new run id, compared with the state as it is;
 * - a resume: the run the checkpoint names, if the state is still the one it started from and
 *   the state options are the same (a delta resumed as a full export would mix two files);
 * - an export already complete: finish the state update if a kill interrupted it.
 */
export function planState(start: StartPlan, opts: StateOptions, meta: StateMeta, newRun: () => string, path: string): StatePlan {
  if (start.kind === 'fresh') return { kind: 'run', run: newRun(), base: meta.lastRun, resume: false };
  const saved = start.from.state;
  const what = start.kind === 'complete' ? 'finished export' : 'checkpoint';
  if (!saved) throw refused(`the ${what} was started without --state; rerun it as it was, or add --fresh to start over with --state`);
  if (saved.delta !== opts.delta || saved.reset !== opts.reset) {
    const flag = saved.delta !== opts.delta ? '--delta' : '--reset-state';
    throw refused(`the ${what} was started ${(saved.delta !== opts.delta ? saved.delta : saved.reset) ? 'with' : 'without'} ${flag}; rerun it as it was, or add --fresh to start over`);
  }
  if (start.kind === 'complete') {
    if (meta.lastRun === saved.run) return { kind: 'done' };
    if (meta.lastRun === saved.base) return { kind: 'finish', run: saved.run };
    return { kind: 'done', note: `state ${path} moved on since this export finished; it is left as it is` };
  }
  if (meta.lastRun !== saved.base) {
    throw refused(`state ${path} changed since this run started (another run completed on it); add --fresh to start this export over against it`);
  }
  return { kind: 'run', run: saved.run, base: saved.base, resume: true };
}

/** A checkpoint of a run with --state resumed without it would append full rows to a delta (or skip the state update). */
export function checkResumeWithoutState(start: StartPlan): void {
  if (start.kind === 'resume' && start.from.state) {
    throw refused(`the checkpoint was started with --state${start.from.state.delta ? ' --delta' : ''}; rerun it as it was, or add --fresh to start over`);
  }
}
