import type { Redis } from 'ioredis';
import { sleep } from '../api/retry.js';

/**
 * A sliding window shared by every process, kept in Redis and timed by Redis's clock (TIME),
 * so machines whose clocks differ still agree. Admits a start only while fewer than `limit`
 * starts lie in the last `windowMs`; otherwise says how long to wait. One round trip a request.
 * KEYS[2], the generation token, is kept alive with the window so a restart can be told.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  redis.call('PEXPIRE', KEYS[2], 3600000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window - now + 1
`;

const TOKEN_TTL_MS = 3_600_000;

export class RedisWindow {
  private n = 0;
  private readonly tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private token: string | null = null;
  private epoch = 0;
  /** No start before this (performance.now()). */
  private quarantineUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  private get tokenKey() {
    return `${this.key}:generation`;
  }

  /** Learns the generation of the Redis data this process starts with. */
  async init(): Promise<void> {
    await this.redis.set(this.tokenKey, this.tag, 'PX', TOKEN_TTL_MS, 'NX');
    this.token = await this.redis.get(this.tokenKey);
  }

  async pass(): Promise<void> {
    for (;;) {
      const hold = this.quarantineUntil - performance.now();
      if (hold > 0) {
        await sleep(Math.min(hold, 250));
        continue;
      }
      const epoch = this.epoch;
      const wait = Number(await this.redis.eval(SCRIPT, 2, this.key, this.tokenKey, this.limit, Math.ceil(this.windowMs), `${this.tag}-${this.n++}`));
      if (epoch !== this.epoch) continue; // admitted across a reconnection: not trusted
      if (wait <= 0) return;
      await sleep(wait);
    }
  }

  /**
   * Redis came back. Hold every start at once; if the generation token is gone or new, Redis
   * lost its data (a restart without persistence) and forgot the last window's starts: keep
   * holding for one whole window, so that no window the server counts holds requests from both
   * sides of the restart. Every process sees the change, whichever reconnects first.
   */
  async reconnected(): Promise<boolean> {
    this.epoch++;
    this.quarantineUntil = performance.now() + this.windowMs;
    const current = await this.redis.get(this.tokenKey);
    if (current !== null && current === this.token) {
      this.quarantineUntil = 0;
      return false;
    }
    await this.init();
    return true;
  }
}
