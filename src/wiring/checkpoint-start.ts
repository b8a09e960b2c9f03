import type { S3Access } from '../aws/s3client.js';
import { planStart, type StartPlan } from '../checkpoint/plan.js';
import { openCheckpointStore } from '../checkpoint/store.js';
import { type ExportConfig, locationName } from '../config.js';
import type { OpenedInput } from '../sources/open.js';
import { fingerprint } from './job.js';

/**
 * The checkpoint found for this job and what a run would do with it, by the rules runExport
 * applies (stdin input or stdout output: no checkpoint; --fresh gets past a corrupt one).
 * Reads only, and refuses what a run would refuse (exit 2). Used by the dry run.
 */
export async function startPlanFor(cfg: ExportConfig, input: OpenedInput, s3: S3Access | undefined): Promise<{ plan: StartPlan; path: string | null }> {
  if (cfg.checkpointPath === null || input.identity === null) return { plan: { kind: 'fresh' }, path: null };
  const job = fingerprint(cfg, input.identity, locationName(cfg.output));
  const store = await openCheckpointStore(cfg.checkpointPath, s3);
  const saved = await store.load().catch((err: unknown) => (cfg.fresh ? undefined : Promise.reject(err)));
  return { plan: planStart(saved, job, cfg.fresh, store.path), path: store.path };
}
