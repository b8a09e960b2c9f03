import type { Attempt } from '../api/client.js';
import { ExitError } from '../errors.js';

export interface HealthOptions {
  /** Failed attempts in a row that mean an outage. */
  consecutive: number;
  /** Or: at least `minAttempts` in the last `windowMs`, of which more than `ratio` failed. */
  windowMs: number;
  minAttempts: number;
  ratio: number;
  now?: () => number;
}

/**
 * 30 failures in a row is far beyond chance at any sane fault rate (0.15^30 ≈ 2e-25) and, at
 * 600 a minute with backoff, still seconds into an outage. The windowed rule catches an API
 * that answers now and then but mostly fails.
 */
export const DEFAULT_HEALTH: HealthOptions = { consecutive: 30, windowMs: 60_000, minAttempts: 50, ratio: 0.9 };

/**
 * Tells an API that keeps failing from a few bad answers, so that an outage stops the job with
 * its checkpoint (exit 5, a rerun resumes) instead of marking every remaining user failed.
 * Failures: 5xx, dropped connections, timeouts, broken bodies. A 429 is throttling (handled by
 * slowing down), and any real answer, even an error about one user, is a sign of life.
 */
export class Health {
  private inARow = 0;
  private last = '';
  private readonly buckets = new Map<number, { n: number; failed: number }>();
  private readonly now: () => number;

  constructor(private readonly o: HealthOptions = DEFAULT_HEALTH) {
    this.now = o.now ?? (() => performance.now()); // monotonic: a clock step is not an outage
  }

  /** Returns the fatal error once the API counts as unavailable. */
  observe(a: Attempt): ExitError | undefined {
    if (a.kind === 'fatal' || (a.kind === 'retry' && a.throttled)) return undefined;
    const failed = a.kind === 'retry';
    const second = Math.floor(this.now() / 1000);
    const b = this.buckets.get(second) ?? { n: 0, failed: 0 };
    b.n++;
    if (failed) b.failed++;
    this.buckets.set(second, b);
    if (!failed) {
      this.inARow = 0;
      return undefined;
    }
    this.inARow++;
    this.last = a.reason;
    if (this.inARow >= this.o.consecutive) return this.unavailable(`${this.inARow} failed attempts in a row`);
    const { n, fails } = this.window(second);
    if (n >= this.o.minAttempts && fails / n > this.o.ratio) {
      return this.unavailable(`${fails} of ${n} attempts failed in the last ${Math.round(this.o.windowMs / 1000)} s`);
    }
    return undefined;
  }

  private window(second: number) {
    let n = 0;
    let fails = 0;
    const oldest = second - Math.ceil(this.o.windowMs / 1000);
    for (const [s, b] of this.buckets) {
      if (s <= oldest) this.buckets.delete(s);
      else {
        n += b.n;
        fails += b.failed;
      }
    }
    return { n, fails };
  }

  private unavailable(what: string): ExitError {
    return new ExitError('unavailable', `the API stayed unavailable (${what}; last: ${this.last}); stopped with the checkpoint written: rerun the same command to resume`);
  }
}
