import type { RunSummary } from '../summary.js';

const PREFIX = 'amp_profile_export_';
export const STATUSES = ['ok', 'no_recs', 'unknown_user', 'failed', 'skipped'] as const;

/** Label values: backslash, double quote and line feed escaped (Prometheus text format 0.0.4). */
const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The run summary in Prometheus text exposition format, for node_exporter's textfile collector.
 * The `_total` figures are TYPE counter as the naming conventions want (they reset each run,
 * which rate() and increase() treat as a counter reset); the rest are gauges. Alert on a stale
 * `last_run_timestamp_seconds` or a non-zero `exit_code`.
 */
export function prometheusText(s: RunSummary): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[labels: string, value: number]>) => {
    out.push(`# HELP ${PREFIX}${name} ${help}`, `# TYPE ${PREFIX}${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${PREFIX}${name}${labels} ${Number.isFinite(value) ? value : 'NaN'}`);
  };
  const one = (v: number): Array<[string, number]> => [['', v]];
  metric('users_total', 'counter', 'Input rows of the last run by outcome (skipped: rows with no id or unreadable); the job total across resumes.',
    STATUSES.map((st) => [`{status="${st}"}`, s[st]]));
  if (s.unchanged !== undefined) metric('unchanged_total', 'counter', 'Users whose rows matched the state (--state; not written with --delta); also counted by status above.', one(s.unchanged));
  if (s.removed !== undefined) metric('removed_total', 'counter', 'Users the state held that the input lacked (--state): they left the state and went to the --removed file.', one(s.removed));
  metric('rows_total', 'counter', 'Output rows written by the job (CSV rows or JSONL lines).', one(s.rows));
  metric('requests_total', 'counter', 'Profile API requests sent by the last run (retries included).', one(s.requests));
  metric('retries_total', 'counter', 'Requests of the last run that were retries.', one(s.retries));
  metric('throttled_total', 'counter', 'HTTP 429 answers in the last run.', one(s.throttled));
  metric('slowdowns_total', 'counter', 'Times the last run slowed down after a 429.', one(s.slowdowns));
  metric('duration_seconds', 'gauge', 'Wall-clock duration of the last run.', one(s.durationSeconds));
  metric('requests_per_second', 'gauge', 'Achieved request rate of the last run.', one(s.requestsPerSecond));
  if (s.rateLimitPerSecond !== null) metric('rate_limit_per_second', 'gauge', 'Configured rate limit (--rate-limit / --rate-interval).', one(s.rateLimitPerSecond));
  metric('output_bytes', 'gauge', 'Size of the output written.', one(s.outputBytes));
  metric('errors_bytes', 'gauge', 'Size of the errors file (0 when there is none).', one(s.errorsBytes));
  metric('last_run_start_timestamp_seconds', 'gauge', 'When the last run started (Unix time).', one(Date.parse(s.startedAt) / 1000));
  metric('last_run_timestamp_seconds', 'gauge', 'When the last run ended (Unix time).', one(Date.parse(s.finishedAt) / 1000));
  metric('exit_code', 'gauge', 'Exit code of the last run (0 done, 2 config/input, 3 key refused, 4 some users failed, 5 API unavailable, 130/143 interrupted).', one(s.exitCode));
  metric('last_run_info', 'gauge', 'Always 1; labels describe the last run.', [[`{version="${label(s.version)}",ended="${label(s.ended)}"}`, 1]]);
  return `${out.join('\n')}\n`;
}
