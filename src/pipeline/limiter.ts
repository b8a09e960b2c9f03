import Bottleneck from 'bottleneck';
import { sleep } from '../api/retry.js';

export interface RateLimit {
  /** Requests per interval; 0 = no limit. */
  limit: number;
  intervalMs: number;
}

export interface Limiter {
  /** Runs `fn` when the rate allows; every HTTP attempt (retries included) goes through here. */
  schedule<T>(fn: () => Promise<T>): Promise<T>;
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
 * The rate limit. Bottleneck spaces starts evenly (`minTime`), so traffic is smooth instead of
 * a burst at each window's start. Bottleneck plans each start from the previous *planned* start
 * (LocalDatastore `__register__`), so a timer that fires late bunches the next ones together;
 * the window guard below then holds any start until the `limit`-th previous *actual* start
 * left the window. Together: no window of `intervalMs` ever holds more than `limit` starts.
 */
export function createLimiter(rate: RateLimit, now: () => number = () => performance.now()): Limiter {
  if (rate.limit <= 0) return { schedule: (fn) => fn(), throttled: () => null, share: 1, stop: async () => {} };
  const windowMs = rate.intervalMs + safetyMs(rate.intervalMs);
  const guard = new WindowGuard(rate.limit, windowMs);
  const fullSpacing = windowMs / rate.limit;
  const bottleneck = new Bottleneck({ minTime: fullSpacing, maxConcurrent: null });
  return spacedLimiter(bottleneck, () => guard.pass(), (share) => fullSpacing / share, now);
}

/**
 * The limiter both modes share: Bottleneck spaces the starts, `pass` is the window guard each
 * start waits for (local ring or Redis), and a 429 widens the spacing (adaptive share).
 * `spacing(share)` is Bottleneck's minTime for a share of the configured rate.
 */
export function spacedLimiter(
  bottleneck: Bottleneck,
  pass: () => Promise<void>,
  spacing: (share: number) => number,
  now: () => number = () => performance.now(),
  onStop: () => Promise<void> = async () => {},
): Limiter {
  const adaptive = new AdaptiveShare((share) => void Promise.resolve(bottleneck.updateSettings({ minTime: spacing(share) })).catch(() => {}), now);
  return {
    schedule(fn) {
      adaptive.recover();
      return bottleneck.schedule(() => pass().then(fn));
    },
    throttled: () => adaptive.halve(),
    get share() {
      return adaptive.share;
    },
    async stop() {
      await bottleneck.stop({ dropWaitingJobs: true }).catch(() => {});
      await onStop();
    },
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

/** A ring of the last `limit` start times; a start waits until the oldest is `windowMs` old. */
export class WindowGuard {
  private readonly starts: Float64Array;
  private next = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.starts = new Float64Array(limit).fill(-Infinity);
  }

  async pass(): Promise<void> {
    const slot = this.next;
    this.next = (slot + 1) % this.limit;
    const earliest = this.starts[slot]! + this.windowMs;
    this.starts[slot] = Math.max(earliest, this.now());
    const wait = earliest - this.now();
    if (wait > 0) await sleep(wait);
    this.starts[slot] = Math.max(this.starts[slot]!, this.now());
  }
}
