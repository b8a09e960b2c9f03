import type { Attempt } from '../api/client.js';
import { backoffMs, type BackoffOptions, DEFAULT_BACKOFF, sleep } from '../api/retry.js';
import type { ProfileQuery, UserRef } from '../api/types.js';
import type { Logger } from '../log.js';
import type { RequestCounts } from './counters.js';
import type { Limiter } from './limiter.js';
import { statusOf, type UserOutcome } from './outcome.js';

export interface FetchDeps {
  attempt: (user: UserRef, signal: AbortSignal) => Promise<Attempt>;
  limiter: Limiter;
  query: ProfileQuery;
  maxRetries: number;
  backoff?: BackoffOptions;
  counts: RequestCounts;
  log: Logger;
  /** Told of every attempt's result; returns a fatal error when the API counts as unavailable. */
  health?: { observe(a: Attempt): Error | undefined };
  /** --refresh-budget: whether one more request may be sent (retries included); none: no limit. */
  budget?: () => boolean;
}

/** What the limiter hands back when the budget was spent by the time this request's turn came. */
const SPENT = { kind: 'spent' } as const;

/**
 * One user's answer: attempts through the rate limiter (retries count against the limit like
 * any request), backoff between them, and an outcome value. Throws only the fatal ExitError of
 * an attempt (a refused key) or the abort reason.
 */
export function makeFetchUser(d: FetchDeps) {
  const backoff = d.backoff ?? DEFAULT_BACKOFF;
  return async function fetchUser(user: UserRef & { line: number }, signal: AbortSignal): Promise<UserOutcome> {
    for (let n = 0; ; n++) {
      // Spent already: no wait for a rate slot that would not be used.
      if (d.budget && !d.budget()) return { status: 'budget_spent', attempts: n };
      const a = await d.limiter.schedule((): Promise<Attempt | typeof SPENT> => {
        signal.throwIfAborted();
        // Checked again at the slot: many users wait for slots at once, and only so many may send.
        if (d.budget && !d.budget()) return Promise.resolve(SPENT);
        d.counts.requests++;
        d.counts.lastAt = performance.now();
        d.counts.firstAt ??= d.counts.lastAt;
        return d.attempt(user, signal);
      }, signal);
      if (a.kind === 'spent') return { status: 'budget_spent', attempts: n };
      const down = d.health?.observe(a);
      if (down) throw down;
      const attempts = n + 1;
      switch (a.kind) {
        case 'answer':
          return a.answer.kind === 'unknown_user'
            ? { status: 'unknown_user', attempts }
            : { status: statusOf(a.answer.profile, d.query), profile: a.answer.profile, attempts };
        case 'fatal':
          throw a.error;
        case 'fail':
          return { status: 'failed', reason: a.reason, httpStatus: a.status, attempts };
        case 'retry': {
          if (a.throttled) {
            d.counts.throttled++;
            const share = d.limiter.throttled();
            if (share !== null) {
              d.counts.slowdowns++;
              d.log.warn({ share, status: a.status }, `the API is throttling (org-wide limit shared with other callers): slowing to ${Math.round(share * 100)}% of --rate-limit, recovering gradually`);
            }
          }
          if (n >= d.maxRetries) {
            return { status: 'failed', reason: `${a.reason}; gave up after ${attempts} attempts`, httpStatus: a.status, attempts };
          }
          d.counts.retries++;
          const wait = backoffMs(n, backoff, a.retryAfterMs);
          d.log.debug({ line: user.line, attempt: attempts, reason: a.reason, status: a.status, waitMs: wait }, 'retrying');
          await sleep(wait, signal);
        }
      }
    }
  };
}
