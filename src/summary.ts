import { type ExportConfig, locationName } from './config.js';
import { describe } from './errors.js';
import type { ExportResult } from './export.js';
import { achievedRate, zeroCounts, zeroRequests } from './pipeline/counters.js';
import { isoSecond } from './output/fetched-at.js';
import { TOOL_VERSION } from './version.js';

/** What cli.ts knows when a run ends, beyond the export's own result. */
export interface RunFacts {
  /** undefined when the run stopped on an error before the export could report (input, checkpoint, Redis). */
  result: ExportResult | undefined;
  /** The error the run ended on, if any (a one-line message goes in the summary). */
  error?: unknown;
  /** The process's exit code. */
  exitCode: number;
  startedAt: Date;
  finishedAt: Date;
  /** The checkpoint's size at the end; null when there is none (or it is not a local file). */
  checkpointBytes: number | null;
}

export type RunSummary = ReturnType<typeof runSummary>;

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * The run summary: the final log line, the `--summary` JSON file and the `--metrics-file`
 * metrics all come from this one object, so they cannot disagree. Counts are the job's
 * (carried across resumes, so they match the output file); requests, retries and 429s are
 * this process's.
 */
export function runSummary(f: RunFacts, cfg: ExportConfig) {
  const r = f.result;
  const counts = r?.counts ?? zeroCounts();
  const req = r?.requests ?? zeroRequests();
  const seconds = r ? r.durationMs / 1000 : (f.finishedAt.getTime() - f.startedAt.getTime()) / 1000;
  const error = f.error ?? r?.error;
  const hasErrors = counts.failed + counts.skipped > 0;
  return {
    tool: 'amp-profile-export',
    version: TOOL_VERSION,
    ended: r?.ended ?? ('fatal' as const),
    exitCode: f.exitCode,
    error: error === undefined ? null : describe(error),
    startedAt: f.startedAt.toISOString(),
    finishedAt: f.finishedAt.toISOString(),
    ...counts,
    // Epoch ms in the checkpoint's counts; a date here, as the rows' fetched_at.
    ...(counts.oldest_fetched_at !== undefined ? { oldest_fetched_at: counts.oldest_fetched_at === null ? null : isoSecond(counts.oldest_fetched_at) } : {}),
    requests: req.requests,
    retries: req.retries,
    throttled: req.throttled,
    slowdowns: req.slowdowns,
    durationSeconds: round(seconds, 1),
    requestsPerSecond: round(achievedRate(req), 2),
    rateLimitPerSecond: cfg.rateLimit > 0 ? round(cfg.rateLimit / (cfg.rateIntervalMs / 1000), 2) : null,
    input: cfg.input.kind === 'stdio' ? 'stdin' : locationName(cfg.input),
    output: cfg.output.kind === 'stdio' ? 'stdout' : locationName(cfg.output),
    outputBytes: r?.outputBytes ?? 0,
    errorsFile: hasErrors ? cfg.errorsPath : null,
    errorsBytes: r?.errorsBytes ?? 0,
    // Where a rerun resumes from (none for stdin); its size when it is a local file.
    checkpoint: cfg.input.kind === 'stdio' ? null : cfg.checkpointPath,
    checkpointBytes: f.checkpointBytes,
  };
}
