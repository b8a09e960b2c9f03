import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { retryAfterMs } from '../../src/api/client.js';
import { backoffMs, DEFAULT_BACKOFF } from '../../src/api/retry.js';
import { createLimiter, maxLagMs, safetyMs, WindowGuard } from '../../src/pipeline/limiter.js';
import { Pacer } from '../../src/pipeline/pacer.js';

describe('WindowGuard through the Pacer (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** No spacing: only the window decides, as the guard alone would. */
  const guarded = (limit: number, windowMs: number, now: () => number = () => Date.now()) => new Pacer(0, new WindowGuard(limit, windowMs), 0, now);

  /** Starts an acquire and records the clock when it is let through. */
  function start(pacer: Pacer, starts: number[]) {
    return pacer.acquire().then(() => {
      starts.push(Date.now());
    });
  }

  it('lets `limit` starts through at once', async () => {
    const pacer = guarded(3, 1000);
    const starts: number[] = [];
    await Promise.all([start(pacer, starts), start(pacer, starts), start(pacer, starts)]);
    expect(starts).toEqual([0, 0, 0]);
  });

  it('holds the (limit+1)-th start until the oldest start is windowMs old', async () => {
    const pacer = guarded(3, 1000);
    const starts: number[] = [];
    await start(pacer, starts);
    await vi.advanceTimersByTimeAsync(100);
    await start(pacer, starts);
    await vi.advanceTimersByTimeAsync(100);
    await start(pacer, starts);
    await vi.advanceTimersByTimeAsync(100);
    expect(starts).toEqual([0, 100, 200]);

    void start(pacer, starts);
    await vi.advanceTimersByTimeAsync(699);
    expect(starts).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(starts).toEqual([0, 100, 200, 1000]);

    // The next one waits for the second start to leave the window.
    void start(pacer, starts);
    await vi.advanceTimersByTimeAsync(99);
    expect(starts).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(starts).toEqual([0, 100, 200, 1000, 1100]);
  });

  it('does not hold a start when the window has room again', async () => {
    const pacer = guarded(2, 1000);
    const starts: number[] = [];
    await start(pacer, starts);
    await start(pacer, starts);
    await vi.advanceTimersByTimeAsync(5000);
    await start(pacer, starts);
    expect(starts).toEqual([0, 0, 5000]);
  });

  it('never lets more than `limit` starts into any window, however many wait', async () => {
    const limit = 4;
    const windowMs = 1000;
    const pacer = guarded(limit, windowMs);
    const starts: number[] = [];
    const all: Promise<void>[] = [];
    // A burst, then stragglers at odd times.
    for (let i = 0; i < 10; i++) all.push(start(pacer, starts));
    for (const at of [130, 470, 1210, 1999, 2500]) {
      await vi.advanceTimersByTimeAsync(at - Date.now());
      all.push(start(pacer, starts));
    }
    await vi.advanceTimersByTimeAsync(20_000);
    await Promise.all(all);
    expect(starts).toHaveLength(15);
    for (const s of starts) {
      const inWindow = starts.filter((x) => x >= s && x < s + windowMs).length;
      expect(inWindow).toBeLessThanOrEqual(limit);
    }
  });

  it('counts the actual start when a timer fires late', async () => {
    let clock = 0;
    const pacer = guarded(1, 1000, () => clock);
    await pacer.acquire(); // starts at 0
    const second = pacer.acquire(); // must wait until 1000
    clock = 1500; // the timer fires late: the start really happens at 1500
    await vi.advanceTimersByTimeAsync(1000);
    await second;
    let thirdDone = false;
    // Planned from 1000 it could go at 2000; the actual start was 1500, so not before 2500.
    clock = 2000;
    void pacer.acquire().then(() => (thirdDone = true));
    await vi.advanceTimersByTimeAsync(499);
    expect(thirdDone).toBe(false);
    clock = 2500;
    await vi.advanceTimersByTimeAsync(1);
    expect(thirdDone).toBe(true);
  });

  it('caps its ring for huge limits and then guards equal sub-windows (no window over the limit)', () => {
    const guard = new WindowGuard(10, 1200, 4); // 3 starts in each third (400 ms): at most 9 <= 10 in 1200 ms
    for (let i = 0; i < 3; i++) guard.record(0);
    expect(guard.blockedUntil(0)).toBe(400);
    expect(guard.blockedUntil(400)).toBe(0);
  });

  it('counts a slow request from its answer less the quickest answer (it can have arrived that late), not from its start', () => {
    const guard = new WindowGuard(2, 1000);
    const first = { index: guard.record(0), at: 0 }; // a new connection: its handshake takes 150 ms
    const second = { index: guard.record(10), at: 10 };
    guard.answered(first, 160);
    // The quickest answer is not known yet: the first counts from its start.
    expect(guard.blockedUntil(1000)).toBe(0);
    guard.answered(second, 15); // 5 ms: what a request takes on a warm connection
    // The first can have arrived at 155: the third start waits until 1155.
    expect(guard.blockedUntil(1000)).toBe(1155);
    expect(guard.blockedUntil(1155)).toBe(0);
  });

  it('ignores an answer for a slot that has gone round to a newer start', () => {
    const guard = new WindowGuard(1, 1000);
    const old = { index: guard.record(0), at: 0 };
    const fresh = { index: guard.record(1000), at: 1000 };
    guard.answered(fresh, 1001);
    guard.answered(old, 1900);
    expect(guard.blockedUntil(2000)).toBe(0);
  });
});

describe('Pacer: even starts on the monotonic clock (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** `n` acquires; the performance.now() of each start. */
  async function run(pacer: Pacer, n: number, untilMs: number): Promise<number[]> {
    const starts: number[] = [];
    const all = Array.from({ length: n }, () => pacer.acquire().then(() => starts.push(performance.now())));
    await vi.advanceTimersByTimeAsync(untilMs);
    await Promise.all(all);
    return starts;
  }

  /** The most starts in any window of `ms` beginning at a start. */
  const maxIn = (starts: number[], ms: number) => {
    let best = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[j]! < starts[i]! - ms) j++;
      best = Math.max(best, i - j + 1);
    }
    return best;
  };

  it('spaces starts evenly at a low rate', async () => {
    const pacer = new Pacer(100, new WindowGuard(10, 1000), maxLagMs(100, 1000));
    const starts = await run(pacer, 5, 1000);
    expect(starts).toEqual([0, 100, 200, 300, 400]);
  });

  it('reaches a rate far above one start per timer tick, evenly: 20,000 a second', async () => {
    const limit = 20_000;
    const windowMs = 1000 + safetyMs(1000);
    const spacing = windowMs / limit;
    const pacer = new Pacer(spacing, new WindowGuard(limit, windowMs), maxLagMs(spacing, windowMs));
    const starts = await run(pacer, 3 * limit, 4000);
    expect(starts).toHaveLength(3 * limit);
    // Every start in 3 windows: at least 98% of the spaced rate...
    expect(starts.at(-1)! - starts[0]!).toBeLessThanOrEqual(3 * windowMs);
    // ...never more than the limit in a window, and no second over 110% of limit/interval.
    expect(maxIn(starts, windowMs - 1e-9)).toBeLessThanOrEqual(limit);
    expect(maxIn(starts, 1000 - 1e-9)).toBeLessThanOrEqual(1.1 * limit);
  });

  it('keeps its rate when the requests, not the limit, are the bottleneck for a moment: 10,000 a second from 16 workers', async () => {
    const limit = 10_000;
    const windowMs = 1000 + safetyMs(1000);
    const spacing = windowMs / limit;
    const pacer = new Pacer(spacing, new WindowGuard(limit, windowMs), maxLagMs(spacing, windowMs));
    const starts: number[] = [];
    // Each worker sends one request at a time, 1.5 ms each: 16 of them can do ~10,700 a second.
    const worker = async () => {
      for (;;) {
        await pacer.acquire();
        if (performance.now() >= 2000) return;
        starts.push(performance.now());
        await new Promise((r) => setTimeout(r, 1.5));
      }
    };
    const all = Array.from({ length: 16 }, worker);
    await vi.advanceTimersByTimeAsync(2100);
    pacer.stop(new Error('stopped'));
    await Promise.allSettled(all);
    expect(starts.length / 2).toBeGreaterThanOrEqual(0.95 * (limit * 1000) / windowMs);
    expect(maxIn(starts, windowMs - 1e-9)).toBeLessThanOrEqual(limit);
    expect(maxIn(starts, 1000 - 1e-9)).toBeLessThanOrEqual(1.1 * limit);
  });

  it('ignores the wall clock: a step back of an hour mid-run changes nothing', async () => {
    const pacer = new Pacer(100, new WindowGuard(10, 1000), maxLagMs(100, 1000));
    const starts: number[] = [];
    const all = Array.from({ length: 6 }, () => pacer.acquire().then(() => starts.push(performance.now())));
    await vi.advanceTimersByTimeAsync(150);
    vi.setSystemTime(Date.now() - 3_600_000);
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(all);
    expect(starts).toEqual([0, 100, 200, 300, 400, 500]);
  });

  it('a waiting start rejects when its signal aborts, and stop() rejects the rest', async () => {
    const pacer = new Pacer(1000, new WindowGuard(10, 10_000), 1000);
    await pacer.acquire();
    const ac = new AbortController();
    const aborted = pacer.acquire(ac.signal);
    const other = pacer.acquire();
    ac.abort(new Error('grace over'));
    await expect(aborted).rejects.toThrow('grace over');
    pacer.stop(new Error('stopped'));
    await expect(other).rejects.toThrow('stopped');
    await expect(pacer.acquire()).rejects.toThrow('stopped');
  });

  it('does not bank a burst over a pause', async () => {
    const pacer = new Pacer(100, new WindowGuard(100, 10_000), maxLagMs(100, 10_000));
    await run(pacer, 1, 10);
    await vi.advanceTimersByTimeAsync(5000);
    const starts = await run(pacer, 3, 1000);
    expect(starts).toEqual([5010, 5110, 5210]);
  });
});

describe('createLimiter', () => {
  it('runs every job at once with limit 0 (no limit)', async () => {
    const limiter = createLimiter({ limit: 0, intervalMs: 60_000 });
    let ran = 0;
    const results = Array.from({ length: 1000 }, (_, i) =>
      limiter.schedule(async () => {
        ran++;
        return i;
      }),
    );
    // Started synchronously: no timer, no queue.
    expect(ran).toBe(1000);
    expect(await Promise.all(results)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    await limiter.stop();
  });

  it('keeps a head-room of 0.4% of the interval, at least 100 ms: the default 600/min still gets > 99%', () => {
    expect(safetyMs(60_000)).toBe(240);
    expect(60_000 / (60_000 + safetyMs(60_000))).toBeGreaterThan(0.99);
    expect(safetyMs(2_000)).toBe(100);
  });

  it('passes the job result and error through', async () => {
    const limiter = createLimiter({ limit: 1000, intervalMs: 1000 });
    await expect(limiter.schedule(async () => 'x')).resolves.toBe('x');
    await expect(limiter.schedule(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await limiter.stop();
  });
});

describe('backoffMs', () => {
  const o = (random: number) => ({ ...DEFAULT_BACKOFF, random: () => random });
  const TOP = 0.9999999;

  it('waits between 0 and just under base * 2^retry', () => {
    expect([0, 1, 2, 3, 5].map((n) => backoffMs(n, o(0)))).toEqual([0, 0, 0, 0, 0]);
    expect([0, 1, 2, 3, 5].map((n) => backoffMs(n, o(TOP)))).toEqual([999, 1999, 3999, 7999, 31_999]);
    expect(backoffMs(2, o(0.5))).toBe(2000);
  });

  it('never waits past the cap, however many retries', () => {
    for (const n of [6, 7, 20, 100, 2000]) {
      expect(backoffMs(n, o(TOP))).toBe(59_999);
      expect(backoffMs(n, o(0))).toBe(0);
    }
    expect(backoffMs(3, { baseMs: 100, capMs: 250, random: () => TOP })).toBe(249);
  });

  it('stays in bounds with the default random', () => {
    for (let n = 0; n < 12; n++) {
      const ms = backoffMs(n, DEFAULT_BACKOFF);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(Math.min(60_000, 1000 * 2 ** n));
      expect(Number.isInteger(ms)).toBe(true);
    }
  });

  it('waits at least Retry-After', () => {
    expect(backoffMs(0, o(0), 5000)).toBe(5000);
    expect(backoffMs(3, o(0), 30_000)).toBe(30_000);
    expect(backoffMs(0, o(0), 0)).toBe(0);
  });

  it('keeps the jitter when it is longer than Retry-After', () => {
    expect(backoffMs(3, o(TOP), 100)).toBe(7999);
  });

  it('bounds an absurd Retry-After at twice the cap', () => {
    expect(backoffMs(0, o(0), 3_600_000)).toBe(120_000);
  });
});

describe('retryAfterMs', () => {
  const NOW = Date.parse('Wed, 21 Oct 2015 07:27:30 GMT');

  it('reads seconds', () => {
    expect(retryAfterMs('120', NOW)).toBe(120_000);
    expect(retryAfterMs('0', NOW)).toBe(0);
    expect(retryAfterMs('1.5', NOW)).toBe(1500);
  });

  it('reads an HTTP date as the time left until it', () => {
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', NOW)).toBe(30_000);
  });

  it('reads a date already past as 0', () => {
    expect(retryAfterMs('Wed, 21 Oct 2015 07:00:00 GMT', NOW)).toBe(0);
  });

  it('ignores a missing, empty or unreadable value', () => {
    expect(retryAfterMs(undefined, NOW)).toBeUndefined();
    expect(retryAfterMs('', NOW)).toBeUndefined();
    expect(retryAfterMs('soon', NOW)).toBeUndefined();
    expect(retryAfterMs('12abc', NOW)).toBeUndefined();
    expect(retryAfterMs('Infinity', NOW)).toBeUndefined();
  });
});
