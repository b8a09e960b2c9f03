/** What the run did, per status: the summary, the checkpoint and the exit code read these. */
export interface Counts {
  /** Input rows with an id. */
  users: number;
  ok: number;
  no_recs: number;
  unknown_user: number;
  /** Users whose requests failed for good (in the errors file). */
  failed: number;
  /** Input rows that could not be used (no id, unreadable; in the errors file). */
  skipped: number;
  /** Output rows written (CSV rows or JSONL lines). */
  rows: number;
  /** Rows `--control drop` left out (control-group recs); present only in that mode. */
  control_dropped?: number;
  /** With --state: users whose rows are the same as the state's (not written with --delta). */
  unchanged?: number;
  /** With --state: users the state held that the input lacks (they leave the state; in the --removed file). */
  removed?: number;
}

export const zeroCounts = (): Counts => ({ users: 0, ok: 0, no_recs: 0, unknown_user: 0, failed: 0, skipped: 0, rows: 0 });

/** Request-level figures of this process (not carried across a resume). */
export interface RequestCounts {
  requests: number;
  retries: number;
  /** 429 answers. */
  throttled: number;
  /** Times the limiter slowed down after a 429 (adaptive throttling). */
  slowdowns: number;
  /** performance.now() of the first and the last request start: the achieved rate's span. */
  firstAt?: number;
  lastAt?: number;
}

/**
 * Requests per second between the first and the last start: n requests make n - 1 gaps, so
 * dividing n by the run's duration reads above the limit on a short run (10.19/s at 10/s).
 */
export function achievedRate(r: RequestCounts): number {
  if (r.firstAt === undefined || r.lastAt === undefined || r.lastAt <= r.firstAt) return 0;
  return ((r.requests - 1) * 1000) / (r.lastAt - r.firstAt);
}

export const zeroRequests = (): RequestCounts => ({ requests: 0, retries: 0, throttled: 0, slowdowns: 0 });
