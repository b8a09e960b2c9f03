import { createRequire } from 'node:module';
import { usageError } from '../errors.js';
import { redactUrl } from '../redact.js';
import type { Logger } from '../log.js';
import { type Limiter, maxLagMs, pacedLimiter, type RateLimit, safetyMs, stoppedError } from './limiter.js';
import { type Grant, RedisWindow } from './redis-window.js';

// With require(), not import(): Node's import() of a CommonJS package first scans its source
// for export names; ioredis then costs about 205 ms of CPU to load instead of 105 ms.
const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

export interface SharedLimit extends RateLimit {
  redisUrl: string;
  /** Every process with the same Redis and id shares one budget. */
  limiterId: string;
  log: Logger;
}


/**
 * The org-wide rate limit shared through Redis: every process with the same Redis and
 * --limiter-id takes its start times from one schedule kept in Redis (redis-window.ts), timed
 * by Redis's clock, in batches, so that together they reach the limit and never exceed it.
 * All processes sharing an id must be given the same --rate-limit and --rate-interval.
 * - Redis unreachable at start: exit 2, never a private limiter (that would double the org's
 *   rate). Lost mid-run: requests pause (ioredis queues commands until it reconnects); when it
 *   is back without its data (a restart), every process waits one whole window.
 * - A 429 halves this process's spacing share; the shared schedule spreads everyone's starts.
 */
export async function createRedisLimiter(rate: SharedLimit): Promise<Limiter> {
  const where = redactUrl(rate.redisUrl);
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
  const spacingMs = windowMs / rate.limit;
  const window = new RedisWindow(client, `amp-profile-export:${rate.limiterId}:window`, {
    limit: rate.limit,
    windowMs,
    spacingMs,
    // A grant in the past is counted earlier than it arrives: keep the catch-up well inside the head-room.
    maxLagMs: Math.min(maxLagMs(spacingMs, windowMs), safetyMs(rate.intervalMs) / 5),
    // The same again for a start used late: together at most 40% of the head-room.
    maxLateMs: safetyMs(rate.intervalMs) / 5,
    batch: BATCH,
  });
  await window.init();

  let lost = false;
  let stopping = false;
  const stop = new AbortController();
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

  return pacedLimiter<Grant>({
    acquire: (signal) => window.acquire(signal ? AbortSignal.any([signal, stop.signal]) : stop.signal),
    answered: (grant) => window.answered(grant),
    setShare: (share) => window.setShare(share),
    stop: async () => {
      stopping = true;
      stop.abort(stoppedError());
      if (window.dropped > 0) rate.log.info({ droppedStarts: window.dropped }, 'shared limit: starts given up because this process came late for them (a busy machine)');
      client.disconnect();
    },
  });
}

/** Starts one script call may grant a process: its waiting requests, at most this many. */
const BATCH = 64;
