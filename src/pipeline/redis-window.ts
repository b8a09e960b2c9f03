import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClockOffset } from './clock-offset.js';

/**
 * The shared schedule of every process using one Redis and limiter id, kept in Redis and timed
 * by Redis's clock (TIME), so that machines whose clocks differ, or a clock stepped by NTP,
 * still agree. One script call grants a process up to `k` start times at once:
 * - starts are spaced `spacing` ms apart across all processes (a shared next-start time), so
 *   traffic is smooth and processes interleave;
 * - a start is granted only if the window of `window` ms ending at it holds fewer than `limit`
 *   granted starts (a sorted set of every grant, by its start time): the hard guarantee;
 * - nothing is granted more than HORIZON_MS ahead; the caller waits and asks again.
 * Batches make the shared limit reach its rate: one round trip per request cannot (measured:
 * three processes sharing 2,000 a second reached less than half of it).
 * KEYS[2], the generation token, is kept alive with the window so a Redis restart can be told.
 * ARGV[8] and the pairs after it move granted starts later (ZADD XX): requests that can have
 * arrived after their start (see `answered`).
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local k = tonumber(ARGV[3])
local spacing = tonumber(ARGV[4])
local lag = tonumber(ARGV[5])
local horizon = tonumber(ARGV[7])
local moved = tonumber(ARGV[8])
for j = 0, moved - 1 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[9 + 2 * j], ARGV[10 + 2 * j])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local card = redis.call('ZCARD', KEYS[1])
local s = math.max(tonumber(redis.call('GET', KEYS[3]) or '0'), now - lag)
local out = { string.format('%.3f', now) }
for i = 1, k do
  if card >= limit then
    local e = redis.call('ZRANGE', KEYS[1], card - limit, card - limit, 'WITHSCORES')
    local free = tonumber(e[2]) + window
    if free > s then s = free end
  end
  if s > now + horizon then break end
  redis.call('ZADD', KEYS[1], s, ARGV[6] .. '-' .. i)
  card = card + 1
  out[#out + 1] = string.format('%.3f', s)
  s = s + spacing
end
if #out == 1 then out[2] = 'wait:' .. string.format('%.3f', s) end
redis.call('SET', KEYS[3], string.format('%.3f', s), 'PX', math.ceil(window * 2))
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 2))
redis.call('PEXPIRE', KEYS[2], 3600000)
return out
`;

const TOKEN_TTL_MS = 3_600_000;
/** Grants reach at most this far ahead: a process that stops wastes at most this much of the budget. */
export const HORIZON_MS = 250;

export interface RedisWindowOptions {
  limit: number;
  windowMs: number;
  /** Spacing between starts at the full rate; divided by the share after 429s. */
  spacingMs: number;
  maxLagMs: number;
  /** A granted start that comes later than this is given up, not used. */
  maxLateMs: number;
  /** Starts asked for in one call at most. */
  batch: number;
}

/** A granted start: when on this process's clock, and as Redis holds it. */
export interface Grant {
  at: number;
  score: number;
  member: string;
}

/** Moves sent to Redis in one call at most (the largest first). */
const MAX_MOVES = 256;
/** Answers all kept for a move while the quickest answer is still being learnt (a fresh process's first, handshaking ones). */
const WARM_ANSWERS = 64;

export class RedisWindow {
  private n = 0;
  private readonly tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private token: string | null = null;
  private epoch = 0;
  /** No start before this (performance.now()). */
  private quarantineUntil = 0;
  /** Granted starts not yet used, earliest first. */
  private granted: Grant[] = [];
  /** Used starts whose answer came within the last window, with how far Redis has them moved. */
  private answers: Array<{ grant: Grant; answer: number; moved: number }> = [];
  /** The quickest start-to-answer time seen: what every request takes at the least. */
  private quickest = Infinity;
  private seen = 0;
  private asking: Promise<void> | undefined;
  private share = 1;
  /** Starts waiting in acquire(): how many one call asks for. */
  private pending = 0;
  private readonly clock = new ClockOffset();
  /** Granted starts given up because they came too late. */
  dropped = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly o: RedisWindowOptions,
  ) {}

  private get tokenKey() {
    return `${this.key}:generation`;
  }

  setShare(share: number): void {
    this.share = share;
  }

  /** Learns the generation of the Redis data this process starts with. */
  async init(): Promise<void> {
    await this.redis.set(this.tokenKey, this.tag, 'PX', TOKEN_TTL_MS, 'NX');
    this.token = await this.redis.get(this.tokenKey);
  }

  /** Resolves at a start time granted by the shared schedule; rejects if `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<Grant> {
    this.pending++;
    try {
      return await this.next(signal);
    } finally {
      this.pending--;
    }
  }

  /**
   * The request started on `grant` was answered (or failed). As in the local WindowGuard, it
   * can have arrived as late as its answer less the quickest answer's time (a new connection's
   * handshake, a busy process): the next call to Redis moves its start there (ZADD XX), while
   * it still counts in a window. The quickest answer is only known after a few, so the moves
   * are worked out at each call, not here.
   */
  answered(grant: Grant): void {
    const now = performance.now();
    const took = now - grant.at;
    if (took < this.quickest) this.quickest = took;
    // Kept: every answer until the quickest is known, then those that took notably longer
    // (moves smaller than that stay within the head-room, and cost Redis nothing).
    if (this.seen++ < WARM_ANSWERS || took > this.quickest + this.o.maxLateMs / 4) this.answers.push({ grant, answer: now, moved: 0 });
  }

  /** [score, member] pairs for the script: starts to move later in Redis, the largest moves first. */
  private moves(now: number): string[] {
    let old = 0;
    while (old < this.answers.length && this.answers[old]!.answer <= now - this.o.windowMs) old++;
    if (old > 0) this.answers.splice(0, old);
    const later = (a: { grant: Grant; answer: number }) => a.answer - this.quickest - a.grant.at;
    const due = this.answers.filter((a) => later(a) > a.moved + 1).sort((x, y) => later(y) - later(x));
    const out: string[] = [];
    for (const a of due.slice(0, MAX_MOVES)) {
      a.moved = later(a);
      out.push((a.grant.score + a.moved).toFixed(3), a.grant.member);
    }
    // Once the quickest answer is known, an answer is done with when sent (or not worth a move):
    // only those still to send are kept, so a fast run does not filter a window's answers per call.
    if (this.seen >= WARM_ANSWERS) this.answers = due.slice(MAX_MOVES).sort((x, y) => x.answer - y.answer);
    return out;
  }

  private async next(signal: AbortSignal | undefined): Promise<Grant> {
    for (;;) {
      signal?.throwIfAborted();
      const hold = this.quarantineUntil - performance.now();
      if (hold > 0) {
        await sleep(Math.min(hold, 250), undefined, { signal });
        continue;
      }
      const grant = this.granted.shift();
      if (grant !== undefined) {
        const at = grant.at;
        const wait = at - performance.now();
        if (wait > 0) await sleep(wait, undefined, { signal });
        // Redis counted this start at its granted time; sent much later, it would crowd the
        // window after it. A late timer or a stalled process gives it up (it stays counted,
        // which errs on the safe side) and takes the next.
        if (performance.now() - at > this.o.maxLateMs) {
          this.dropped++;
          continue;
        }
        return grant;
      }
      this.asking ??= this.ask(this.pending).finally(() => (this.asking = undefined));
      await this.asking;
    }
  }

  private async ask(waiting: number): Promise<void> {
    const epoch = this.epoch;
    const k = Math.max(1, Math.min(this.o.batch, waiting));
    const sentAt = performance.now();
    const moves = this.moves(sentAt);
    const out = (await this.redis.eval(
      SCRIPT,
      3,
      this.key,
      this.tokenKey,
      `${this.key}:next`,
      this.o.limit,
      this.o.windowMs,
      k,
      this.o.spacingMs / this.share,
      this.o.maxLagMs,
      `${this.tag}-${this.n++}`,
      HORIZON_MS,
      moves.length / 2,
      ...moves,
    )) as string[];
    if (epoch !== this.epoch) return; // granted across a reconnection: not trusted
    const received = performance.now();
    this.clock.sample(sentAt, received, Number(out[0]));
    const first = out[1]!;
    if (first.startsWith('wait:')) {
      const until = this.clock.toLocal(Number(first.slice(5))) - HORIZON_MS;
      await sleep(Math.max(1, Math.min(until - received, HORIZON_MS)));
      return;
    }
    const tag = `${this.tag}-${this.n - 1}`;
    for (let i = 1; i < out.length; i++) {
      const score = Number(out[i]);
      this.granted.push({ at: this.clock.toLocal(score), score, member: `${tag}-${i}` });
    }
  }

  /**
   * Redis came back. Hold every start at once and drop unused grants; if the generation token
   * is gone or new, Redis lost its data (a restart without persistence) and forgot the last
   * window's starts: keep holding for one whole window, so that no window the server counts
   * holds requests from both sides of the restart.
   */
  async reconnected(): Promise<boolean> {
    this.epoch++;
    this.granted = [];
    this.quarantineUntil = performance.now() + this.o.windowMs;
    const current = await this.redis.get(this.tokenKey);
    if (current !== null && current === this.token) {
      this.quarantineUntil = 0;
      return false;
    }
    await this.init();
    return true;
  }
}
