import { setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import { ExitError } from '../errors.js';
import type { SourceItem, UserRow } from '../sources/csv.js';
import type { UserOutcome } from './outcome.js';
import type { OrderedWriter } from './writer.js';

export interface RunParts {
  /** The input's rows, a batch at a time (up to 256: what the reader found parsed, sources/records.ts). */
  batches: AsyncIterable<SourceItem[]>;
  fetchUser: (row: UserRow, signal: AbortSignal) => Promise<UserOutcome>;
  writer: OrderedWriter;
  /** Requests in flight at most. */
  concurrency: number;
  /** Graceful stop (first SIGTERM/SIGINT): stop reading, let in-flight requests finish. */
  stop: AbortSignal;
  /** Hard stop (second signal): drop in-flight requests now. */
  hardStop: AbortSignal;
  graceMs: number;
  /** Items already written by an earlier run: a resume skips items starting on or before it. */
  skipThroughLine?: number;
  /** Items this process takes (a shard); the others are passed over. */
  keep?: ((item: SourceItem) => boolean) | undefined;
  /**
   * A user answered without a request (a planned night's carried or not-fetched user): its
   * outcome goes straight to the writer, past the request queue. Undefined: ask the API.
   */
  settled?: ((row: UserRow) => UserOutcome | undefined) | undefined;
}

export type RunEnd = { ended: 'complete' } | { ended: 'stopped' } | { ended: 'fatal'; error: ExitError | Error };

/**
 * The fan-out: read a row, wait for room, hand it to p-queue; answers come back in any order
 * and the ordered writer puts them back in input order. Memory is bounded by design: at most
 * `concurrency` requests in flight, `concurrency` queued, and `4 * concurrency + 64` items read
 * but not written (a slow head-of-line answer holds the rest there, and the reader waits).
 */
export async function runPipeline(p: RunParts): Promise<RunEnd> {
  const queue = new PQueue({ concurrency: p.concurrency });
  const inflight = new AbortController();
  // Every request in flight listens on it (undici, backoff sleeps): that is by design, not a leak.
  setMaxListeners(4 * p.concurrency + 16, inflight.signal);
  const maxBacklog = 4 * p.concurrency + 64;
  let fatal: Error | undefined;
  const fail = (err: Error) => {
    if (fatal) return;
    fatal = err;
    inflight.abort(err);
  };
  const onHard = () => inflight.abort(new Error('hard stop'));
  p.hardStop.addEventListener('abort', onHard, { once: true });
  const stopped = () => p.stop.aborted || fatal !== undefined;
  const interrupt = anyAbort([p.stop, inflight.signal]);
  // Each read, raced with an interruption: one listener for the whole run that wakes the read
  // waited on, instead of one added and removed per row (a planned night reads a million). Not
  // Promise.race with a promise of the interruption: each race would leave a reaction on it.
  let wake: (() => void) | undefined;
  interrupt.addEventListener('abort', () => wake?.(), { once: true });
  const read = <T>(next: Promise<T>): Promise<T | undefined> =>
    interrupt.aborted
      ? Promise.resolve(undefined)
      : new Promise<T | undefined>((resolve, reject) => {
          wake = () => resolve(undefined);
          next.then(resolve, reject);
        });

  let seq = 0;
  try {
    const it = p.batches[Symbol.asyncIterator]();
    read: while (!stopped()) {
      const next = await read(it.next());
      if (!next || next.done) break;
      for (const item of next.value) {
        if (stopped()) break read;
        if (p.skipThroughLine !== undefined && item.line <= p.skipThroughLine) continue;
        if (p.keep && !p.keep(item)) continue;
        const s = seq++;
        const known = item.kind === 'user' ? p.settled?.(item) : undefined;
        if (item.kind === 'bad') {
          p.writer.put(s, item, null);
        } else if (known) {
          p.writer.put(s, item, known);
        } else {
          void queue.add(async () => {
            try {
              p.writer.put(s, item, await p.fetchUser(item, inflight.signal));
            } catch (err) {
              if (!inflight.signal.aborted) fail(err as Error);
            }
          });
        }
        // Waits only when there is something to wait for: most rows of a planned night need neither.
        if (queue.size >= p.concurrency) await raceAbort(queue.onSizeLessThan(p.concurrency), interrupt);
        if (seq - p.writer.written >= maxBacklog || p.writer.failed) await raceAbort(p.writer.room(seq, maxBacklog), interrupt);
      }
    }
    if (!stopped()) void it.return?.();
  } catch (err) {
    fail(err as Error);
  }

  // A stop can come after the last row was read, while the queue still holds users: it drops them too.
  if (!stopped()) await raceAbort(queue.onIdle(), interrupt);
  if (stopped()) {
    // Nothing new starts; what is in flight gets `graceMs` (0 for a fatal error) to finish.
    queue.clear();
    const grace = fatal ? 0 : p.graceMs;
    const idle = queue.onIdle();
    if (!(await within(idle, grace))) inflight.abort(new Error('grace period over'));
    await idle;
  }
  // A sink that failed (disk full) is this run's fatal error, not an exception past it.
  await p.writer.settle().catch((err: unknown) => fail(err as Error));
  p.hardStop.removeEventListener('abort', onHard);
  if (fatal) return { ended: 'fatal', error: fatal };
  return p.stop.aborted ? { ended: 'stopped' } : { ended: 'complete' };
}

/** Resolves to undefined when `signal` aborts first. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const on = () => resolve(undefined);
    signal.addEventListener('abort', on, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', on);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', on);
        reject(e);
      },
    );
  });
}

function anyAbort(signals: AbortSignal[]): AbortSignal {
  return AbortSignal.any(signals);
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(t);
  }
}
