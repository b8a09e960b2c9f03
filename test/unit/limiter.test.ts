import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { retryAfterMs } from '../../src/api/client.js';
import { backoffMs, DEFAULT_BACKOFF } from '../../src/api/retry.js';
import { createLimiter, safetyMs, WindowGuard } from '../../src/pipeline/limiter.js';

describe('WindowGuard (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Starts a pass and records the clock when it is let through. */
  function start(guard: WindowGuard, starts: number[]) {
    const p = guard.pass().then(() => {
      starts.push(Date.now());
    });
    return p;
  }

  it('lets `limit` passes through at once', async () => {
    const guard = new WindowGuard(3, 1000, () => Date.now());
    const starts: number[] = [];
    await Promise.all([start(guard, starts), start(guard, starts), start(guard, starts)]);
    expect(starts).toEqual([0, 0, 0]);
  });

  it('holds the (limit+1)-th pass until the oldest start is windowMs old', async () => {
    const guard = new WindowGuard(3, 1000, () => Date.now());
    const starts: number[] = [];
    await start(guard, starts);
    await vi.advanceTimersByTimeAsync(100);
    await start(guard, starts);
    await vi.advanceTimersByTimeAsync(100);
    await start(guard, starts);
    await vi.advanceTimersByTimeAsync(100);
    expect(starts).toEqual([0, 100, 200]);

    void start(guard, starts);
    await vi.advanceTimersByTimeAsync(699);
    expect(starts).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(starts).toEqual([0, 100, 200, 1000]);

    // The next one waits for the second start to leave the window.
    void start(guard, starts);
    await vi.advanceTimersByTimeAsync(99);
    expect(starts).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(starts).toEqual([0, 100, 200, 1000, 1100]);
  });

  it('does not hold a pass when the window has room again', async () => {
    const guard = new WindowGuard(2, 1000, () => Date.now());
    const starts: number[] = [];
    await start(guard, starts);
    await start(guard, starts);
    await vi.advanceTimersByTimeAsync(5000);
    await start(guard, starts);
    expect(starts).toEqual([0, 0, 5000]);
  });

  it('never lets more than `limit` starts into any window, however many wait', async () => {
    const limit = 4;
    const windowMs = 1000;
    const guard = new WindowGuard(limit, windowMs, () => Date.now());
    const starts: number[] = [];
    const all: Promise<void>[] = [];
    // A burst, then stragglers at odd times.
    for (let i = 0; i < 10; i++) all.push(start(guard, starts));
    for (const at of [130, 470, 1210, 1999, 2500]) {
      await vi.advanceTimersByTimeAsync(at - Date.now());
      all.push(start(guard, starts));
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
    const guard = new WindowGuard(1, 1000, () => clock);
    await guard.pass(); // starts at 0
    const second = guard.pass(); // must wait until 1000
    clock = 1500; // the timer fires late: the start really happens at 1500
    await vi.advanceTimersByTimeAsync(1000);
    await second;
    let thirdDone = false;
    // Planned from 1000 it could go at 2000; the actual start was 1500, so not before 2500.
    clock = 2000;
    void guard.pass().then(() => (thirdDone = true));
    await vi.advanceTimersByTimeAsync(499);
    expect(thirdDone).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(thirdDone).toBe(true);
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
