import type { StartPlan } from '../checkpoint/plan.js';
import type { StateOptions } from '../config.js';
import { ExitError } from '../errors.js';
import type { StateMeta } from './db.js';

/** What a run does with its state, decided from the checkpoint's plan and the state's meta. Pure. */
export type StatePlan =
  /** Deliver against the state; `run` names this run's results, `base` the state it compares with. */
  | { kind: 'run'; run: string; base: string | null; resume: boolean; at: number }
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
export function planState(start: StartPlan, opts: StateOptions, meta: StateMeta, newRun: () => string, path: string, now: () => number = Date.now): StatePlan {
  if (start.kind === 'fresh') return { kind: 'run', run: newRun(), base: meta.lastRun, resume: false, at: now() };
  const saved = start.from.state;
  const what = start.kind === 'complete' ? 'finished export' : 'checkpoint';
  if (!saved) throw refused(`the ${what} was started without --state; rerun it as it was, or add --fresh to start over with --state`);
  if (saved.delta !== opts.delta || saved.reset !== opts.reset) {
    const flag = saved.delta !== opts.delta ? '--delta' : '--reset-state';
    throw refused(`the ${what} was started ${(saved.delta !== opts.delta ? saved.delta : saved.reset) ? 'with' : 'without'} ${flag}; rerun it as it was, or add --fresh to start over`);
  }
  const refresh = (o: { budget: number | null; maxAgeMs: number | null } | undefined) => JSON.stringify(o ?? { budget: null, maxAgeMs: null });
  if (start.kind === 'resume' && refresh(saved.refresh) !== refresh({ budget: opts.budget, maxAgeMs: opts.maxAgeMs })) {
    throw refused(`the checkpoint was started with other --refresh-budget/--max-age (${describeRefresh(saved.refresh)}; now ${describeRefresh(opts)}): its plan of who is refreshed would change; rerun it as it was, or add --fresh to start over`);
  }
  if (start.kind === 'complete') {
    if (meta.lastRun === saved.run) return { kind: 'done' };
    if (meta.lastRun === saved.base) return { kind: 'finish', run: saved.run };
    return { kind: 'done', note: `state ${path} moved on since this export finished; it is left as it is` };
  }
  if (meta.lastRun !== saved.base) {
    throw refused(`state ${path} changed since this run started (another run completed on it); add --fresh to start this export over against it`);
  }
  // A checkpoint from before fetch times were kept: tonight's time from here on.
  return { kind: 'run', run: saved.run, base: saved.base, resume: true, at: saved.at ?? now() };
}

function describeRefresh(o: { budget: number | null; maxAgeMs: number | null } | undefined): string {
  if (!o || (o.budget === null && o.maxAgeMs === null)) return 'neither';
  return [o.budget !== null ? `a budget of ${o.budget} requests` : 'no budget', o.maxAgeMs !== null ? `max age ${o.maxAgeMs / 1000} s` : 'no max age'].join(', ');
}

/** A checkpoint of a run with --state resumed without it would append full rows to a delta (or skip the state update). */
export function checkResumeWithoutState(start: StartPlan): void {
  if (start.kind === 'resume' && start.from.state) {
    throw refused(`the checkpoint was started with --state${start.from.state.delta ? ' --delta' : ''}; rerun it as it was, or add --fresh to start over`);
  }
}
