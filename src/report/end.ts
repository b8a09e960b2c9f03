import { isS3Url } from '../aws/s3url.js';
import type { ExportConfig } from '../config.js';
import { describe, ExitCode } from '../errors.js';
import { scrubber } from '../secret.js';
import { runSummary, type RunFacts, type RunSummary } from '../summary.js';
import { sizeOf, writeRunReports } from './files.js';

/**
 * The end of a run that got past config: the summary object (for the final log line), and the
 * `--summary` / `--metrics-file` files written from it. A report that cannot be written is
 * said through `complain` and turns exit 0 into 1: the dashboard would otherwise show last
 * night's run as tonight's, and a scheduler's retry is a harmless no-op that writes it again.
 */
export async function endOfRun(
  cfg: ExportConfig,
  facts: Pick<RunFacts, 'result' | 'error' | 'exitCode' | 'startedAt'>,
  secret: string | undefined,
  complain: (message: string) => void,
): Promise<RunSummary> {
  const checkpointBytes = cfg.checkpointPath && !isS3Url(cfg.checkpointPath) ? await sizeOf(cfg.checkpointPath) : null;
  const summary = runSummary({ ...facts, finishedAt: new Date(), checkpointBytes }, cfg);
  try {
    await writeRunReports(cfg, summary, scrubber(secret));
  } catch (err) {
    complain(`could not write the run summary: ${describe(err)}`);
    if (summary.exitCode === ExitCode.ok) summary.exitCode = ExitCode.failure;
  }
  return summary;
}
