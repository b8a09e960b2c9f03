import type { Profile } from '../api/types.js';
import { formatError } from '../output/errors.js';
import type { Sink } from '../sinks/sink.js';
import type { SplitPart } from '../contracts/positions.js';
import type { SourceItem, UserRow } from '../sources/csv.js';
import type { UserTracker } from '../contracts/tracker.js';
import { type Counts, zeroCounts } from './counters.js';
import type { RowStatus, UserOutcome } from './outcome.js';

/** One user's output: the text and how many rows it holds. */
export interface Formatted {
  text: string;
  rows: number;
  /** Rows left out by `--control drop` (set, 0 or more, only in that mode). */
  dropped?: number;
}

export interface RowFormat {
  header(): string;
  format(row: UserRow, status: RowStatus, profile: Profile | null): Formatted;
}

/** Rendered rows as the state stores them: their fetch time put in, and how many rows they hold. */
export interface StoredRows {
  stamp(text: string, at: number | null): string;
  count(text: string): number;
}

/** How far the written output goes: what a checkpoint records. */
export interface Position {
  /** Input byte offset just past the last record written. */
  offset: number;
  /** Line feeds before `offset`. */
  feeds: number;
  /** Start line of the last item written, parsed or not (a resume skips items up to it). */
  line: number;
  outputBytes: number;
  errorsBytes: number;
  counts: Counts;
  /** A split output's current file (`--split-rows/--split-bytes`); `outputBytes` is then the total over all files. */
  outputPart?: SplitPart;
}

/**
 * Writes finished users in input order (guarantee 1), whatever order their answers came in.
 * Items wait in `pending` until every earlier one is written: memory is bounded by the
 * reader, which waits for `room()` before reading on.
 */
export class OrderedWriter {
  private readonly pending = new Map<number, [SourceItem, UserOutcome | null]>();
  private nextSeq = 0;
  private running = false;
  private pumped: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private waiters: Array<() => void> = [];
  private pos: Position;
  private tracker: UserTracker | undefined;
  private stored: StoredRows = { stamp: (text) => text, count: () => 0 };

  constructor(
    private readonly out: Sink,
    private readonly errors: Sink,
    private readonly rows: RowFormat,
    start: Omit<Position, 'outputBytes' | 'errorsBytes'>,
  ) {
    this.pos = { ...start, counts: { ...start.counts }, outputBytes: out.bytes, errorsBytes: errors.bytes };
  }

  static fresh(out: Sink, errors: Sink, rows: RowFormat, headerEnd: number, headerFeeds: number): OrderedWriter {
    const header = rows.header();
    // A split output writes the header at the top of each of its files itself.
    if (header && !out.part) out.write(header);
    return new OrderedWriter(out, errors, rows, { offset: headerEnd, feeds: headerFeeds, line: 1, counts: zeroCounts() });
  }

  /**
   * With --state: each user is compared with the state and staged; with --delta unchanged users
   * are not written. `stored` puts a fetch time into rendered rows (output/fetched-at.ts):
   * refreshed users get the tracker's run time, carried ones the time the state holds.
   */
  track(tracker: UserTracker, stored: StoredRows): this {
    this.tracker = tracker;
    this.stored = stored;
    const c = this.pos.counts;
    c.unchanged ??= 0;
    c.refreshed ??= 0;
    c.carried ??= 0;
    c.not_fetched ??= 0;
    c.oldest_fetched_at ??= null;
    return this;
  }

  /** Items handed in so far minus items written. */
  get backlog(): number {
    return this.pending.size;
  }

  get written(): number {
    return this.nextSeq;
  }

  /** A sink failed: room() rejects with the error. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** A consistent copy of what has been handed to the sinks. */
  position(): Position {
    const part = this.out.part;
    return { ...this.pos, counts: { ...this.pos.counts }, outputBytes: this.out.bytes, errorsBytes: this.errors.bytes, ...(part ? { outputPart: part } : {}) };
  }

  put(seq: number, item: SourceItem, outcome: UserOutcome | null): void {
    this.pending.set(seq, [item, outcome]);
    if (!this.running && seq === this.nextSeq) this.pumped = this.pump();
  }

  /** Resolves once fewer than `n` items read are not yet written; rejects if writing failed. */
  async room(readSoFar: number, n: number): Promise<void> {
    while (readSoFar - this.nextSeq >= n) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.failure) throw this.failure;
  }

  /**
   * A sink failed outside the writer's own drains (a checkpoint's sync hit a full disk): the
   * run must stop there, not go on spending requests on rows it cannot write.
   */
  fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits for the contiguous items handed in to be written to the sinks' buffers. */
  async settle(): Promise<void> {
    while (this.running) await this.pumped;
    if (this.failure) throw this.failure;
  }

  /**
   * `running` is set and cleared synchronously (an async function runs to its first await at
   * once, and its `finally` before it resolves), so a `put` never misses a pump that is ending.
   */
  private async pump(): Promise<void> {
    this.running = true;
    try {
      for (let e = this.pending.get(this.nextSeq); e; e = this.pending.get(this.nextSeq)) {
        this.pending.delete(this.nextSeq);
        this.nextSeq++;
        this.emit(e[0], e[1]);
        if (this.waiters.length) for (const w of this.waiters.splice(0)) w();
        if (this.out.full) await this.out.drain();
        if (this.errors.full) await this.errors.drain();
        if (this.tracker?.full) await this.tracker.drain();
      }
    } catch (err) {
      // A sink that cannot be written (disk full...) is fatal; the reader learns it at room().
      this.failure ??= err as Error;
      for (const w of this.waiters.splice(0)) w();
    } finally {
      this.running = false;
    }
  }

  private emit(item: SourceItem, o: UserOutcome | null): void {
    const c = this.pos.counts;
    this.pos.line = item.line;
    if (item.end !== undefined) {
      this.pos.offset = item.end;
      this.pos.feeds = item.endFeeds!;
    }
    if (item.kind === 'bad') {
      c.skipped++;
      this.tracker?.keep(item);
      this.errors.write(formatError({ user_id: item.user_id, device_id: item.device_id, line: item.line, reason: item.reason }));
      return;
    }
    c.users++;
    if (!o) throw new Error('a user row needs an outcome');
    if (o.status === 'failed') {
      c.failed++;
      this.tracker?.keep(item);
      this.errors.write(formatError({ ...item, reason: o.reason, httpStatus: o.httpStatus, attempts: o.attempts }));
      return;
    }
    if (o.status === 'budget_spent') throw new Error('a user the budget did not reach must be carried or not_fetched before the writer');
    if (o.status === 'carried') {
      // Nothing staged: the state update counts every user of the night's plan as present
      // (state/apply.ts), and a carried user's entry stays as it is.
      c.carried = (c.carried ?? 0) + 1;
      if (this.tracker?.delta) return;
      this.writeRows(this.stored.stamp(o.rows, o.fetchedAt), this.stored.count(o.rows), o.fetchedAt);
      return;
    }
    if (o.status === 'not_fetched') {
      c.not_fetched = (c.not_fetched ?? 0) + 1;
      // Nothing delivered, nothing to update: a delta leaves the user out.
      if (this.tracker?.delta) return;
      const f = this.rows.format(item, 'not_fetched', null);
      this.writeRows(f.text, f.rows, null);
      return;
    }
    c[o.status]++;
    const f = this.rows.format(item, o.status, o.status === 'unknown_user' ? null : o.profile);
    if (this.tracker) {
      c.refreshed = (c.refreshed ?? 0) + 1;
      if (this.tracker.deliver(item, f.text) === 'unchanged') {
        c.unchanged = (c.unchanged ?? 0) + 1;
        if (this.tracker.delta) return;
      }
    }
    if (f.dropped !== undefined) c.control_dropped = (c.control_dropped ?? 0) + f.dropped;
    const at = this.tracker ? this.tracker.at : null;
    this.writeRows(at === null ? f.text : this.stored.stamp(f.text, at), f.rows, at);
  }

  private writeRows(text: string, rows: number, fetchedAt: number | null): void {
    const c = this.pos.counts;
    c.rows += rows;
    if (fetchedAt !== null && rows > 0 && (c.oldest_fetched_at === undefined || c.oldest_fetched_at === null || fetchedAt < c.oldest_fetched_at)) c.oldest_fetched_at = fetchedAt;
    this.out.write(text, rows);
  }
}
