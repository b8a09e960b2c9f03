import type { Counts } from '../pipeline/counters.js';
import type { ProgressProbe } from './probe.js';

/** Rates are measured over about this long: steady enough to read, quick to follow a slowdown. */
export const RATE_WINDOW_MS = 10_000;

/** What a progress line shows; also the fields of the JSON `progress` log line. */
export interface ProgressView extends Pick<Counts, 'users' | 'ok' | 'no_recs' | 'unknown_user' | 'failed' | 'skipped' | 'unchanged' | 'carried' | 'not_fetched'> {
  elapsedSeconds: number;
  /** Input bytes written through (the writer's committed offset) and of how many; null for stdin. */
  bytesDone: number;
  bytesTotal: number | null;
  percent: number | null;
  /** Over the last ~10 s. */
  usersPerSecond: number;
  requestsPerSecond: number;
  /** The configured rate per second; null when unlimited. */
  limitPerSecond: number | null;
  /** Adaptive share of the limit in force (1 = full; below 1 after 429s). */
  share: number;
  /** From the byte rate of the last ~10 s; null when unknown (stdin, nothing done yet). */
  etaSeconds: number | null;
}

interface Sample {
  t: number;
  offset: number;
  users: number;
  requests: number;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * Keeps a few samples of the probe's counters (one per tick, ~10 s worth) and turns them into
 * a view. Memory: RATE_WINDOW_MS / tick samples.
 */
export class ProgressMeter {
  private samples: Sample[] = [];

  constructor(
    private readonly probe: ProgressProbe,
    private readonly startedAt: number,
  ) {}

  /** Reads the counters at `now` (ms) and returns what to show. */
  read(now: number): ProgressView {
    const pos = this.probe.position();
    const c = pos.counts;
    const latest: Sample = { t: now, offset: pos.offset, users: c.users, requests: this.probe.requests.requests };
    this.samples.push(latest);
    while (this.samples.length > 2 && now - this.samples[1]!.t >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (now - first.t) / 1000;
    const per = (d: number) => (dt >= 0.5 ? d / dt : 0);
    const total = this.probe.inputBytes;
    const bytesPerSecond = per(latest.offset - first.offset);
    const { limit, intervalMs } = this.probe.rate;
    return {
      elapsedSeconds: round((now - this.startedAt) / 1000, 1),
      bytesDone: pos.offset,
      bytesTotal: total,
      percent: total ? round(Math.min(100, (100 * pos.offset) / total), 1) : total === 0 ? 100 : null,
      users: c.users,
      ok: c.ok,
      no_recs: c.no_recs,
      unknown_user: c.unknown_user,
      failed: c.failed,
      skipped: c.skipped,
      ...(c.unchanged !== undefined ? { unchanged: c.unchanged } : {}),
      ...(c.carried ? { carried: c.carried } : {}),
      ...(c.not_fetched ? { not_fetched: c.not_fetched } : {}),
      usersPerSecond: round(per(latest.users - first.users), 2),
      requestsPerSecond: round(per(latest.requests - first.requests), 2),
      limitPerSecond: limit > 0 ? round(limit / (intervalMs / 1000), 2) : null,
      share: round(this.probe.share(), 3),
      etaSeconds: total !== null && bytesPerSecond > 0 ? Math.round(Math.max(0, total - pos.offset) / bytesPerSecond) : null,
    };
  }
}
