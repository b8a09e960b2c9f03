/**
 * The org-wide limit (docs/profile-api.md: 600 requests per minute) as a sliding window, and the
 * measure tests use to check a client against it.
 *
 * Both use half-open windows [t, t + windowMs): two arrivals exactly windowMs apart are never
 * in the same window, so a client spacing requests by interval/limit is always within limit.
 */

/**
 * Accepts at most `limit` requests in any window of `windowMs`. Keeps the times of the last
 * `limit` accepted requests in a ring that grows on demand (memory: 8 bytes per request
 * accepted within one window, at most 8 * limit bytes).
 */
export class SlidingWindowThrottle {
  private times = new Float64Array(0);
  private head = 0; // index of the oldest kept time
  private count = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`throttle limit: expected an integer >= 1, got ${limit}`);
    if (!(windowMs > 0)) throw new RangeError(`throttle window: expected a number of ms > 0, got ${windowMs}`);
  }

  /** Records a request at `nowMs` (a monotonic clock) if the window has room; false = throttled. */
  tryAcquire(nowMs: number): boolean {
    const cap = this.times.length;
    if (this.count < this.limit) {
      if (this.count === cap) this.grow();
      this.times[(this.head + this.count) % this.times.length] = nowMs;
      this.count++;
      return true;
    }
    // Full: the oldest of the last `limit` accepted must have left the window.
    if (nowMs - this.times[this.head]! < this.windowMs) return false;
    this.times[this.head] = nowMs;
    this.head = (this.head + 1) % cap;
    return true;
  }

  private grow(): void {
    const old = this.times;
    const next = new Float64Array(Math.min(this.limit, Math.max(64, old.length * 2)));
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) % old.length]!;
    this.times = next;
    this.head = 0;
  }
}

/**
 * The largest number of arrivals in any half-open window [t, t + windowMs). Two pointers,
 * O(n) on sorted input; unsorted input is sorted (a copy) first.
 */
export function maxInWindow(arrivalsMs: readonly number[], windowMs: number): number {
  let sorted = arrivalsMs;
  for (let i = 1; i < arrivalsMs.length; i++) {
    if (arrivalsMs[i]! < arrivalsMs[i - 1]!) {
      sorted = arrivalsMs.slice().sort((a, b) => a - b);
      break;
    }
  }
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start++;
    if (end - start + 1 > best) best = end - start + 1;
  }
  return best;
}
