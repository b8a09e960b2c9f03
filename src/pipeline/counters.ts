import type { Counts } from '../contracts/positions.js';

export type { Counts };
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
