import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { usageError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Limiter, type RateLimit, safetyMs, spacedLimiter } from './limiter.js';
import { Redis7Connection } from './redis-connection.js';
import { RedisWindow } from './redis-window.js';

export interface SharedLimit extends RateLimit {
  redisUrl: string;
  /** Every process with the same Redis and id shares one budget. */
  limiterId: string;
  log: Logger;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * The org-wide rate limit shared through Redis (Bottleneck 2.19.5 with ioredis 6, measured with processes sharing one id):
 * - Bottleneck clustering spaces starts across all processes (`minTime` lives in Redis, so the
 *   processes interleave fairly). Its settings live in Redis and a new limiter with the same id
 *   ignores its constructor, hence `updateSettings` after `ready` (all processes sharing an id
 *   must be given the same --rate-limit). No reservoir: its refills are fixed windows and only
 *   applied on the heartbeat. `timeout` lets the keys expire when nobody uses them.
 * - The sliding window in Redis (redis-window.ts) is the guarantee: no window of the interval
 *   holds more than the limit, summed over every process, whatever their timers do.
 * - Redis unreachable at start: exit 2, never a private limiter (that would double the org's
 *   rate). Lost mid-run: requests pause (ioredis queues commands until it reconnects).
 */
export async function createRedisLimiter(rate: SharedLimit): Promise<Limiter> {
  const where = redactUrl(rate.redisUrl);
  // A probe first: an unreachable Redis is exit 2 at once. (Not the client itself: Bottleneck
  // subscribes on `client.duplicate()`, which would inherit `lazyConnect` and never connect.)
  const probe = new Redis(rate.redisUrl, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let first: NodeJS.ErrnoException | undefined;
  probe.on('error', (err: NodeJS.ErrnoException) => (first ??= err));
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    const cause = first ?? (err as NodeJS.ErrnoException);
    throw usageError(`--redis-url ${where}: cannot connect (${cause.code ?? cause.message}); not falling back to a private limit, which would exceed the org's`);
  } finally {
    probe.disconnect();
  }
  // Lost mid-run: commands wait for the reconnection (maxRetriesPerRequest null), so requests pause.
  const client = new Redis(rate.redisUrl, { connectTimeout: 3000, maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(200 * times, 2000) });
  client.on('error', () => {}); // reported through 'close' below, not as crashes

  const windowMs = rate.intervalMs + safetyMs(rate.intervalMs);
  // Whole milliseconds: Bottleneck's Lua scripts do integer arithmetic on minTime in Redis.
  const fullSpacing = Math.ceil(windowMs / rate.limit);
  const window = new RedisWindow(client, `amp-profile-export:${rate.limiterId}:window`, rate.limit, windowMs);
  const bottleneck = new Bottleneck({
    id: rate.limiterId,
    datastore: 'ioredis',
    connection: new Redis7Connection({ client, Redis }) as never,
    clearDatastore: false,
    minTime: fullSpacing,
    maxConcurrent: null,
    heartbeatInterval: 250,
    timeout: 10 * 60_000,
  });
  bottleneck.on('error', (err: Error) => rate.log.warn({ err: err.message }, 'shared limiter error'));
  await bottleneck.ready();
  await window.init();
  await bottleneck.updateSettings({ minTime: fullSpacing });

  let lost = false;
  let stopping = false;
  client.on('close', () => {
    if (lost || stopping) return;
    lost = true;
    rate.log.warn({ redis: where }, 'Redis connection lost: requests paused until it is back');
  });
  client.on('ready', () => {
    if (!lost) return;
    lost = false;
    void window.reconnected().then(
      (restarted) =>
        rate.log.warn(
          { redis: where, waitSeconds: restarted ? windowMs / 1000 : 0 },
          restarted ? 'Redis is back but lost the shared window: waiting one full window before sending' : 'Redis is back',
        ),
      () => {},
    );
  });

  // Shared spacing: one process slowing down on a 429 slows everyone using the org's budget.
  return spacedLimiter(bottleneck, () => window.pass(), (share) => Math.ceil(fullSpacing / share), undefined, async () => {
    stopping = true;
    await Promise.resolve(bottleneck.disconnect(true)).catch(() => {});
    client.disconnect();
  });
}
