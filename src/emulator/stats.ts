/** What the emulator counts, for tests (`stats()`) and benchmarks (`GET /__emulator/stats`). */
import { maxInWindow } from './throttle.js';

export interface EmulatorStats {
  /** Every request received on any path, except the stats endpoint. */
  requests: number;
  /** '200', '400', '401', '404', '429', '500', '503', 'drop'. */
  byStatus: Record<string, number>;
  /** Answered 429 by the throttle (a '429' fault counts in `faults`). */
  throttled: number;
  faults: number;
  /** Most arrivals in any window of the throttle's length (60 s when off); 0 without record. */
  maxInWindow: number;
  /** Epoch ms (performance.timeOrigin + performance.now()), only with record. */
  arrivals?: number[];
  /** Requests per requested id (user_id, else device_id), only with record. */
  perId?: Record<string, number>;
}

/**
 * The counters; with `record` also every arrival time and a count per id (memory: 8 bytes
 * per request plus one map entry per distinct id).
 */
export class StatsRecorder {
  requests = 0;
  throttled = 0;
  faults = 0;
  private byStatus: Record<string, number> = {};
  private arrivals: number[] = [];
  private perId = new Map<string, number>();

  constructor(
    readonly record: boolean,
    private readonly windowMs: number,
  ) {}

  arrival(epochMs: number): void {
    this.requests++;
    if (this.record) this.arrivals.push(epochMs);
  }

  status(status: number | 'drop'): void {
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
  }

  requestedId(id: string): void {
    if (this.record && id !== '') this.perId.set(id, (this.perId.get(id) ?? 0) + 1);
  }

  /** Distinct ids requested since the last reset (0 without record): cheap enough to poll. */
  get distinctIds(): number {
    return this.perId.size;
  }

  snapshot(): EmulatorStats {
    const out: EmulatorStats = {
      requests: this.requests,
      byStatus: { ...this.byStatus },
      throttled: this.throttled,
      faults: this.faults,
      maxInWindow: this.record ? maxInWindow(this.arrivals, this.windowMs) : 0,
    };
    if (this.record) {
      out.arrivals = this.arrivals.slice();
      out.perId = Object.fromEntries(this.perId);
    }
    return out;
  }

  reset(): void {
    this.requests = this.throttled = this.faults = 0;
    this.byStatus = {};
    this.arrivals = [];
    this.perId = new Map();
  }
}
