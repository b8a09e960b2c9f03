import type { StartPlan } from '../checkpoint/plan.js';
import type { Checkpoint } from '../checkpoint/state.js';
import type { StatePlan } from '../state/plan.js';

/**
 * What a run will do, decided before anything is written from what the checkpoint and the
 * state say (each planned on its own, purely: checkpoint/plan.ts, state/plan.ts). export.ts
 * carries it out.
 */
export type RunPlan =
  /** The job completed and the state (if any) holds its results: nothing to send or write. */
  | { kind: 'nothing'; from: Checkpoint }
  /** The export completed but a kill interrupted the state update: finish it from the staged results. */
  | { kind: 'finish-state'; from: Checkpoint }
  /**
   * Export: from the checkpoint `resume`, or from the start (then `discard` is an earlier
   * checkpoint whose S3 uploads are dropped, and `note` says why it starts over).
   */
  | { kind: 'export'; resume: Checkpoint | undefined; discard: Checkpoint | undefined; note: string | undefined };

/** Pure. `saved` is the checkpoint found (discarded when the start is fresh); `state` the state's own plan, null without --state. */
export function planRun(start: StartPlan, saved: Checkpoint | undefined, state: StatePlan | null): RunPlan {
  if (start.kind === 'complete') return state?.kind === 'finish' ? { kind: 'finish-state', from: start.from } : { kind: 'nothing', from: start.from };
  if (start.kind === 'resume') return { kind: 'export', resume: start.from, discard: undefined, note: undefined };
  return { kind: 'export', resume: undefined, discard: saved, note: start.note };
}
