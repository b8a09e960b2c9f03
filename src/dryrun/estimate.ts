import { formatDuration } from '../progress/format.js';
import type { RateLimit } from '../pipeline/limiter.js';

/** A night's window for a batch job, and a day. */
export const NIGHT_SECONDS = 8 * 3600;
export const DAY_SECONDS = 24 * 3600;

export interface DurationEstimate {
  /** null with no rate limit: then the API's speed and --concurrency decide. */
  seconds: number | null;
  perSecond: number | null;
  warnings: string[];
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');

/**
 * How long `users` requests take at the configured rate: users / (limit / interval), the floor
 * for a real run (retries and other callers of the org's budget only add to it).
 */
export function estimateDuration(users: number, rate: RateLimit): DurationEstimate {
  if (rate.limit <= 0) return { seconds: null, perSecond: null, warnings: [] };
  const perSecond = rate.limit / (rate.intervalMs / 1000);
  const seconds = Math.ceil(users / perSecond);
  const warnings: string[] = [];
  const at = `${n(users)} users at ${n(rate.limit)} per ${rate.intervalMs / 1000} s take ${formatDuration(seconds)}`;
  // The limit is the org's (README, "Rate limit, retries, outages"): more processes or shards share it and do not help.
  if (seconds > DAY_SECONDS) {
    warnings.push(
      `will not fit in a day: ${at}, and ${n(perSecond * DAY_SECONDS)} users a day is the most this rate allows; the limit is org-wide, so more shards do not help: split the list over several runs or ask Amplitude for a higher limit`,
    );
  } else if (seconds > NIGHT_SECONDS) {
    warnings.push(`longer than a night: ${at}, more than 8 h (${n(perSecond * NIGHT_SECONDS)} users fit in 8 h at this rate); start earlier or split the list`);
  }
  return { seconds, perSecond, warnings };
}
