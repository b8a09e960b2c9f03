import { Pacer, type Slot, WindowGuard } from './pacer.js';

export { WindowGuard } from './pacer.js';

export interface RateLimit {
  /** Requests per interval; 0 = no limit. */
  limit: number;
  intervalMs: number;
}

export interface Limiter {
  /**
   * Runs `fn` when the rate allows; every HTTP attempt (retries included) goes through here.
   * Rejects with the signal's reason if it aborts while waiting (a stop must not wait for the limiter).
   */
  schedule<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** A 429: someone else is using the org's budget. Returns the new share of the limit, or null if unchanged. */
  throttled(): number | null;
  /** Share of the configured rate in force now (1 = full; always 1 when unlimited). */
  readonly share: number;
  stop(): Promise<void>;
}

/**
 * Head-room kept under the limit: the server counts arrivals, not our intentions, and between
 * the two lie timers, a new connection's handshake, a cold process and the network, which
 * bunch requests by tens of milliseconds (measured: 76 ms gaps for a 100 ms spacing in the first
 * requests of a fresh process; a 60 ms late arrival with three processes on a loaded 2-core
 * machine). 0.4% of the interval (240 ms a minute) and at least 100 ms, so a long run at the
 * default 600 a minute still reaches > 99% of it (README, "Exit codes and guarantees", 5).
 */
export const safetyMs = (intervalMs: number) => Math.max(100, intervalMs * 0.004);

/** Adaptive throttling: halve on a 429 (at most once per second), creep back +10% every 5 s without one. */
const SLOWEST_SHARE = 1 / 32;
const RECOVER_STEP = 0.1;
const RECOVER_EVERY_MS = 5000;
const MIN_MS_BETWEEN_SLOWDOWNS = 1000;

/**
 * How far behind a late timer may put the schedule before starts are released together: one
 * spacing, or up to 2.5% of the window (at most 50 ms) at rates where a millisecond timer
 * cannot space starts one by one. A garbage collection of ~85 ms was measured stalling the
 * export at 2,000/s: at 20 ms the rest was lost (96.5% of the limit reached). Keeps any second
 * within 5% of limit/interval.
 */
export const maxLagMs = (spacingMs: number, windowMs: number) => Math.max(spacingMs, Math.min(50, windowMs / 40));

/**
 * The rate limit of one process: starts spaced evenly on the monotonic clock (Pacer), so traffic
 * is smooth instead of a burst at each window's start, and a ring of the actual starts (the
 * WindowGuard) holds any start that would put more than `limit` into a window of `intervalMs`,
 * however timers bunch them. Reaches the configured rate up to ~100,000 a second (several
 * starts released per timer tick).
 */
export function createLimiter(rate: RateLimit, now: () => number = () => performance.now()): Limiter {
  if (rate.limit <= 0) return { schedule: (fn) => fn(), throttled: () => null, share: 1, stop: async () => {} };
  const windowMs = rate.intervalMs + safetyMs(rate.intervalMs);
  const fullSpacing = windowMs / rate.limit;
  const guard = new WindowGuard(rate.limit, windowMs);
  const pacer = new Pacer(fullSpacing, guard, maxLagMs(fullSpacing, windowMs), now);
  return pacedLimiter<Slot>(
    {
      acquire: (signal) => pacer.acquire(signal),
      answered: (slot) => guard.answered(slot, now()),
      setShare: (share) => pacer.setSpacing(fullSpacing / share),
      stop: async () => pacer.stop(stoppedError()),
    },
    now,
  );
}

/** What the run's waiting requests are rejected with when the limiter stops. */
export const stoppedError = () => new Error('rate limiter stopped');

/** The two modes' common part: wait for a start, run the job; a 429 lowers the share. */
export function pacedLimiter<S = void>(
  p: {
    acquire(signal?: AbortSignal): Promise<S>;
    /** The request started with `slot` has its answer (or failed). */
    answered?(slot: S): void;
    setShare(share: number): void;
    stop(): Promise<void>;
  },
  now: () => number = () => performance.now(),
): Limiter {
  const adaptive = new AdaptiveShare((share) => p.setShare(share), now);
  return {
    async schedule(fn, signal) {
      adaptive.recover();
      const slot = await p.acquire(signal);
      if (!p.answered) return fn();
      try {
        return await fn();
      } finally {
        p.answered(slot);
      }
    },
    throttled: () => adaptive.halve(),
    get share() {
      return adaptive.share;
    },
    stop: () => p.stop(),
  };
}

/**
 * Adaptive throttling: multiplicative decrease on a 429 (at most once a second, since the
 * requests already in flight answer 429 too), additive increase back to the configured rate.
 */
export class AdaptiveShare {
  share = 1;
  private lastChange = -Infinity;

  constructor(
    private readonly apply: (share: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Returns the new share, or null when unchanged. */
  halve(): number | null {
    if (this.now() - this.lastChange < MIN_MS_BETWEEN_SLOWDOWNS || this.share <= SLOWEST_SHARE) return null;
    this.set(Math.max(SLOWEST_SHARE, this.share / 2));
    return this.share;
  }

  recover(): void {
    if (this.share < 1 && this.now() - this.lastChange >= RECOVER_EVERY_MS) this.set(Math.min(1, this.share + RECOVER_STEP));
  }

  private set(s: number) {
    this.share = s;
    this.lastChange = this.now();
    this.apply(s);
  }
}
