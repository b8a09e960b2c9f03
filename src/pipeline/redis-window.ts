import type { Redis } from 'ioredis';
import { sleep } from '../api/retry.js';

/**
 * A sliding window shared by every process, kept in Redis and timed by Redis's clock (TIME),
 * so machines whose clocks differ still agree. Admits a start only while fewer than `limit`
 * starts lie in the last `windowMs`; otherwise says how long to wait. One round trip a request.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window - now + 1
`;

export class RedisWindow {
  private n = 0;
  private readonly tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  /** Bumped on every reconnect: an admission that straddles one is not trusted. */
  epoch = 0;
  /** No start before this (performance.now()), after Redis came back empty. */
  quarantineUntil = 0;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  async pass(): Promise<void> {
    for (;;) {
      const hold = this.quarantineUntil - performance.now();
      if (hold > 0) {
        await sleep(hold);
        continue;
      }
      const epoch = this.epoch;
      const wait = Number(await this.redis.eval(SCRIPT, 1, this.key, this.limit, Math.ceil(this.windowMs), `${this.tag}-${this.n++}`));
      if (epoch !== this.epoch) continue;
      if (wait <= 0) return;
      await sleep(wait);
    }
  }

  /**
   * Redis came back. If the window's key is gone (a restart without persistence) the starts of
   * the last window are forgotten: wait one whole window, so that no window of the server's
   * counts both requests from before the restart and new ones.
   */
  async reconnected(): Promise<boolean> {
    this.epoch++;
    const kept = await this.redis.exists(this.key);
    if (kept) return false;
    this.quarantineUntil = performance.now() + this.windowMs;
    return true;
  }
}
