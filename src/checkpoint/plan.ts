import { ExitError } from '../errors.js';
import { type Checkpoint, differences, inputChanged, type JobFingerprint } from './state.js';

export type StartPlan =
  | { kind: 'fresh'; note?: string }
  | { kind: 'resume'; from: Checkpoint }
  | { kind: 'complete'; from: Checkpoint };

/**
 * Pure: what to do with the checkpoint found for this job (guarantee 4).
 * - none, or `--fresh`: start over;
 * - the same job, finished: nothing to do (a CronJob retry is harmless);
 * - the same job, unfinished: resume;
 * - another job, unfinished: refuse, naming what differs (resuming would mix two jobs' rows),
 *   and `--fresh` as the only way on when the input itself changed;
 * - another job, finished: start over (last night's finished export; tonight's input is new).
 */
export function planStart(saved: Checkpoint | undefined, job: JobFingerprint, fresh: boolean, path: string): StartPlan {
  if (!saved) return { kind: 'fresh' };
  if (fresh) return { kind: 'fresh', note: `--fresh: discarding checkpoint ${path}` };
  const diff = differences(saved.job, job);
  if (diff.length === 0) return saved.done ? { kind: 'complete', from: saved } : { kind: 'resume', from: saved };
  if (saved.done) return { kind: 'fresh', note: `the previous job at ${path} finished; this one differs (${diff[0]}), starting it` };
  // The input the checkpoint was made from is gone: no command can resume it.
  const way = inputChanged(saved.job, job)
    ? 'That job cannot be resumed any more: add --fresh to discard the checkpoint and export the input as it is now'
    : 'Rerun the original command to resume it, or add --fresh to discard it';
  throw new ExitError('checkpoint', `checkpoint ${path} belongs to another job: ${diff.join('; ')}. ${way}`);
}
