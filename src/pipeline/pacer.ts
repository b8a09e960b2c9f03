/**
 * Request starts paced on the monotonic clock (performance.now and timers), never on the wall
 * clock: an NTP step or a VM restore that moves Date.now() by an hour must neither freeze the
 * run nor let a burst through. (Bottleneck, used here before, plans its starts on Date.now()
 * in local and in Redis mode.)
 *
 * Starts are spaced evenly, `spacingMs` apart. A timer fires at best about every millisecond,
 * so at high rates one wake-up releases every start that has come due since the last one:
 * the k-th start of a busy stretch is never before `base + k * spacing`, which keeps any window
 * near its share of the limit whatever the timer does. A timer that fires late lets the
 * schedule catch up by at most `maxLagMs`; after a pause it restarts from now, so a pause
 * never banks a burst.
 */

/** What a timer waits at the least: a start due sooner waits this long. */
const TICK_MS = 1;

/** Decides, for each start, whether a hard window allows it now, else from when. */
export interface StartGuard {
  /** 0 when a start may happen at `now`, else the monotonic time from which it may. */
  blockedUntil(now: number): number;
  /** A start happened at `now`; returns its slot, for `answered`. */
  record(now: number): number;
}

/** Which start a request went out on: what acquire() resolves with. */
export interface Slot {
  index: number;
  at: number;
}

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class Pacer {
  private readonly waiting: Waiter[] = [];
  private head = 0;
  private nextAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped: Error | undefined;

  constructor(
    private spacingMs: number,
    private readonly guard: StartGuard,
    private readonly maxLagMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get spacing(): number {
    return this.spacingMs;
  }

  /** A new spacing (adaptive throttling): applies from the next start on. */
  setSpacing(ms: number): void {
    this.spacingMs = ms;
  }

  /** Resolves when this start may happen; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<Slot> {
    if (this.stopped) return Promise.reject(this.stopped);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Slot>((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => this.drop(w, signal.reason);
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      // Idle until now: the schedule starts afresh here (a pause banks nothing). Below a timer
      // tick of spacing, "idle" is mostly every request slot being busy for a moment: restarting
      // from exactly now would then cost the rest of a 1 ms wake each time (measured: 10,000/s
      // at --concurrency 16 reached 4,800/s), so the restart keeps up to a tick of catch-up.
      if (this.timer === undefined && this.head === this.waiting.length) this.nextAt = Math.max(this.nextAt, this.now() - (this.spacingMs < TICK_MS ? Math.min(this.maxLagMs, TICK_MS) : 0));
      this.waiting.push(w);
      if (this.timer === undefined) this.pump();
    });
  }

  /** Rejects every waiting start with `reason`; later acquires reject at once. */
  stop(reason: Error): void {
    this.stopped = reason;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiting.splice(this.head)) this.settle(w, reason);
    this.waiting.length = this.head = 0;
  }

  private pump = (): void => {
    this.timer = undefined;
    for (;;) {
      const w = this.next();
      if (!w) return;
      const now = this.now();
      // A timer far behind does not bank starts: catch up by at most the lag.
      this.nextAt = Math.max(this.nextAt, now - this.maxLagMs);
      const due = Math.max(this.nextAt, this.guard.blockedUntil(now));
      if (due > now) {
        this.timer = setTimeout(this.pump, Math.max(1, due - now));
        return;
      }
      this.head++;
      const index = this.guard.record(now);
      this.nextAt += this.spacingMs;
      this.settle(w, undefined, { index, at: now });
    }
  };

  /** The first waiter still waiting (aborted ones are removed as they abort). */
  private next(): Waiter | undefined {
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    return this.waiting[this.head];
  }

  private drop(w: Waiter, reason: unknown): void {
    const i = this.waiting.indexOf(w, this.head);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    this.settle(w, reason);
  }

  private settle(w: Waiter, err?: unknown, slot?: Slot): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    if (err === undefined) w.resolve(slot!);
    else w.reject(err);
  }
}

/**
 * The hard guarantee: no window of `windowMs` holds more than `limit` starts. A ring of the
 * last starts; a start waits until the one `limit` starts back has left the window. For very
 * large limits the ring is capped (memory): it then guards `sub` equal sub-windows, each
 * holding at most limit/sub starts, which implies the whole window's bound.
 *
 * The server counts a request when it arrives, and a request can arrive well after its start:
 * the first on a new connection waits for its handshake (TCP, TLS, a proxy's CONNECT), a cold
 * or busy process writes it late. Measured: the first requests of a fresh export arrived
 * 75-100 ms late next to the warm ones while ten processes started on two cores, which put
 * 21 requests into a window of 20 at the server (the head-room is 100 ms). So each start's
 * slot counts, once its answer is in, from the latest moment it can have arrived but for the
 * trip a request always takes: its answer's time less the quickest answer seen (`answered`).
 */
export class WindowGuard implements StartGuard {
  private readonly starts: Float64Array;
  /** When each slot's answer came; NaN while it is out. */
  private readonly answers: Float64Array;
  private readonly windowMs: number;
  private next = 0;
  /** The quickest start-to-answer time seen: what every request takes at the least. */
  private quickest = Infinity;

  constructor(limit: number, windowMs: number, maxRing = 1 << 20) {
    const sub = Math.ceil(limit / maxRing);
    this.starts = new Float64Array(Math.floor(limit / sub)).fill(-Infinity);
    this.answers = new Float64Array(this.starts.length).fill(Number.NaN);
    this.windowMs = windowMs / sub;
  }

  blockedUntil(now: number): number {
    const start = this.starts[this.next]!;
    const answer = this.answers[this.next]!;
    // Arrived at the latest when its answer came less the quickest answer's time (not before its start).
    const oldest = answer - this.quickest > start ? answer - this.quickest : start;
    return oldest + this.windowMs > now ? oldest + this.windowMs : 0;
  }

  record(now: number): number {
    const index = this.next;
    this.starts[index] = now;
    this.answers[index] = Number.NaN;
    this.next = (this.next + 1) % this.starts.length;
    return index;
  }

  /** The request started on `slot` was answered (or failed) at `now`. */
  answered(slot: Slot, now: number): void {
    if (this.starts[slot.index] !== slot.at) return; // the slot went round to a newer start
    this.answers[slot.index] = now;
    if (now - slot.at < this.quickest) this.quickest = now - slot.at;
  }
}
