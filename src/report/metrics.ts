import { Counter, Gauge, Registry } from 'prom-client';
import type { RunSummary } from '../summary.js';

const PREFIX = 'amp_profile_export_';
export const STATUSES = ['ok', 'no_recs', 'unknown_user', 'failed', 'skipped'] as const;

/**
 * A run's metrics, one registry per run (never prom-client's global one, and no Node process
 * metrics: they describe a process that is gone by the time anyone looks). `metrics()` is what
 * both `--metrics-file` and `--metrics-push` send: the secret key scrubbed, and without the
 * blank line prom-client puts between metric families, so the file reads as it always has to
 * a line-by-line script (Prometheus ignores blank lines either way).
 */
export class RunRegistry extends Registry {
  constructor(private readonly scrub: (text: string) => string) {
    super();
  }

  override async metrics(): Promise<string> {
    return this.scrub((await super.metrics()).replace(/\n\n+/g, '\n'));
  }
}

/**
 * The run summary as Prometheus metrics (README "Operating it"). The `_total` figures are
 * counters as the naming conventions want (they reset each run, which rate() and increase()
 * treat as a counter reset); the rest are gauges. Alert on a stale
 * `last_run_timestamp_seconds` or a non-zero `exit_code`.
 */
export function runRegistry(s: RunSummary, scrub: (text: string) => string = (t) => t): RunRegistry {
  const registers = [new RunRegistry(scrub)];
  const counter = (name: string, help: string, value: number) => new Counter({ name: PREFIX + name, help, registers }).inc(value);
  const gauge = (name: string, help: string, value: number) => new Gauge({ name: PREFIX + name, help, registers }).set(value);

  const users = new Counter({
    name: `${PREFIX}users_total`,
    help: 'Input rows of the last run by outcome (skipped: rows with no id or unreadable); the job total across resumes.',
    labelNames: ['status'],
    registers,
  });
  for (const st of STATUSES) users.inc({ status: st }, s[st]);
  counter('rows_total', 'Output rows written by the job (CSV rows or JSONL lines).', s.rows);
  counter('requests_total', 'Profile API requests sent by the last run (retries included).', s.requests);
  counter('retries_total', 'Requests of the last run that were retries.', s.retries);
  counter('throttled_total', 'HTTP 429 answers in the last run.', s.throttled);
  counter('slowdowns_total', 'Times the last run slowed down after a 429.', s.slowdowns);
  gauge('duration_seconds', 'Wall-clock duration of the last run.', s.durationSeconds);
  gauge('requests_per_second', 'Achieved request rate of the last run.', s.requestsPerSecond);
  if (s.rateLimitPerSecond !== null) gauge('rate_limit_per_second', 'Configured rate limit (--rate-limit / --rate-interval).', s.rateLimitPerSecond);
  gauge('output_bytes', 'Size of the output written.', s.outputBytes);
  gauge('errors_bytes', 'Size of the errors file (0 when there is none).', s.errorsBytes);
  gauge('last_run_start_timestamp_seconds', 'When the last run started (Unix time).', Date.parse(s.startedAt) / 1000);
  gauge('last_run_timestamp_seconds', 'When the last run ended (Unix time).', Date.parse(s.finishedAt) / 1000);
  gauge('exit_code', 'Exit code of the last run (0 done, 2 config/input, 3 key refused, 4 some users failed, 5 API unavailable, 130/143 interrupted).', s.exitCode);
  new Gauge({ name: `${PREFIX}last_run_info`, help: 'Always 1; labels describe the last run.', labelNames: ['version', 'ended'], registers }).set({ version: s.version, ended: s.ended }, 1);
  if (s.unchanged !== undefined) counter('unchanged_total', 'Users whose rows matched the state (--state; not written with --delta); also counted by status above.', s.unchanged);
  if (s.removed !== undefined) counter('removed_total', 'Users the state held that the input lacked (--state): they left the state and went to the --removed file.', s.removed);
  if (s.refreshed !== undefined) counter('refreshed_total', 'Users asked tonight (--state): ok, no_recs and unknown_user above.', s.refreshed);
  if (s.carried !== undefined) counter('carried_total', 'Users written as the state last stored them, not asked tonight (--refresh-budget/--max-age).', s.carried);
  if (s.not_fetched !== undefined) counter('not_fetched_total', 'Users never fetched whom the budget did not reach (status not_fetched).', s.not_fetched);
  if (typeof s.oldest_fetched_at === 'string') gauge('oldest_fetched_at_timestamp_seconds', 'Fetch time of the oldest data in the output (Unix time; --state).', Date.parse(s.oldest_fetched_at) / 1000);
  return registers[0]!;
}

/** The run summary in Prometheus text exposition format (0.0.4), as `--metrics-file` writes it. */
export const prometheusText = (s: RunSummary, scrub?: (text: string) => string): Promise<string> => runRegistry(s, scrub).metrics();
