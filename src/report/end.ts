import { isS3Url } from '../aws/s3url.js';
import type { ExportConfig } from '../config.js';
import { describe, ExitCode } from '../errors.js';
import { scrubber } from '../secret.js';
import { runSummary, type RunFacts, type RunSummary } from '../summary.js';
import { sizeOf, writeRunReports } from './files.js';

/** How long the end of a run waits for the Pushgateway: a few seconds, it is on the cluster's network. */
export const PUSH_TIMEOUT_MS = 5_000;

/** Where the end of a run says what went wrong: the logger, or stderr before there is one. */
export interface EndOfRunSay {
  /** A report that could not be written: exit 0 becomes 1. */
  error(message: string): void;
  /** A push that failed: said, exit code unchanged. */
  warn(message: string): void;
  info?(message: string): void;
}

/**
 * The end of a run that got past config: the summary object (for the final log line), the
 * `--summary` / `--metrics-file` files written from it and the `--metrics-push`. A report file
 * that cannot be written is an error and turns exit 0 into 1: the dashboard would otherwise
 * show last night's run as tonight's, and a scheduler's retry is a harmless no-op that writes
 * it again. A Pushgateway that is down or slow is only a warning: rerunning a finished export
 * to repeat a push would be worse than a gap on a dashboard, which the Pushgateway's own
 * `push_failure_time_seconds` and a stale `last_run_timestamp_seconds` show anyway.
 */
export async function endOfRun(
  cfg: ExportConfig,
  facts: Pick<RunFacts, 'result' | 'error' | 'exitCode' | 'startedAt'>,
  secret: string | undefined,
  say: EndOfRunSay,
): Promise<RunSummary> {
  const checkpointBytes = cfg.checkpointPath && !isS3Url(cfg.checkpointPath) ? await sizeOf(cfg.checkpointPath) : null;
  const summary = runSummary({ ...facts, finishedAt: new Date(), checkpointBytes }, cfg);
  const scrub = scrubber(secret);
  try {
    await writeRunReports(cfg, summary, scrub);
  } catch (err) {
    say.error(`could not write the run summary: ${describe(err)}`);
    if (summary.exitCode === ExitCode.ok) summary.exitCode = ExitCode.failure;
  }
  // After the files: the pushed exit_code is the one the process ends with.
  try {
    await pushRunMetrics(cfg, summary, scrub, say);
  } catch (err) {
    say.warn(`could not push the metrics to the Pushgateway ${scrub(describe(err))}; the export itself is not affected`);
  }
  return summary;
}

/** `--metrics-push`: the run's metrics to the Pushgateway, grouped by job and shard. */
async function pushRunMetrics(cfg: ExportConfig, s: RunSummary, scrub: (text: string) => string, say: EndOfRunSay): Promise<void> {
  if (!cfg.metricsPush) return;
  const [{ runRegistry }, { pushMetrics }, { redactUrl }] = await Promise.all([import('./metrics.js'), import('./push.js'), import('../redact.js')]);
  const grouping = { shard: String(cfg.shard.index) };
  await pushMetrics(runRegistry(s, scrub), { ...cfg.metricsPush, grouping, timeoutMs: PUSH_TIMEOUT_MS });
  say.info?.(`metrics pushed to ${redactUrl(cfg.metricsPush.url.href)} (job ${cfg.metricsPush.job}, shard ${grouping.shard})`);
}
