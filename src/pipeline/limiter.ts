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
  /** Current spacing between request starts, ms (0 when unlimited). */
  readonly spacingMs: number;
  stop(): Promise<void>;
}

/**
 * Head-room kept under the limit: clocks, timers and the network are not exact, and the server
 * counts arrivals, not our intentions. 0.4% of the interval (240 ms a minute), at least 4 ms,
 * so a long run still reaches > 99% of the limit (PRODUCT.md guarantee 5).
 */
export const safetyMs = (intervalMs: number) => Math.max(4, intervalMs * 0.004);

/**
 * The rate limit. Bottleneck spaces starts evenly (`minTime`), so traffic is smooth instead of
 * a burst at each window's start. Bottleneck plans each start from the previous *planned* start
 * (LocalDatastore `__register__`), so a timer that fires late bunches the next ones together;
 * the window guard below then holds any start until the `limit`-th previous *actual* start
 * left the window. Together: no window of `intervalMs` ever holds more than `limit` starts.
 */
export function createLimiter(rate: RateLimit): Limiter {
  if (rate.limit <= 0) return { schedule: (fn) => fn(), spacingMs: 0, stop: async () => {} };
  const windowMs = rate.intervalMs + safetyMs(rate.intervalMs);
  const guard = new WindowGuard(rate.limit, windowMs);
  const minTime = windowMs / rate.limit;
  const bottleneck = new Bottleneck({ minTime, maxConcurrent: null });
  return {
    schedule: (fn) => bottleneck.schedule(() => guard.pass().then(fn)),
    spacingMs: minTime,
    async stop() {
      await bottleneck.stop({ dropWaitingJobs: true }).catch(() => {});
    },
  };
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
