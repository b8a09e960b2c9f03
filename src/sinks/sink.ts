import type { S3SinkState, SplitPart } from '../contracts/positions.js';

/**
 * A byte destination the ordered writer appends to. Writes are buffered; `bytes` counts what
 * was accepted, so after `sync()` it is the committed length a checkpoint may record.
 */
export interface Sink {
  /** Where it goes, for messages. */
  readonly name: string;
  /** Bytes accepted so far, including the length the sink was opened at. */
  readonly bytes: number;
  /** `rows`: the output rows in `text`, one user's whole output (a split sink cuts files only between writes). */
  write(text: string, rows?: number): void;
  /** True when enough is buffered that the writer should `drain()` before going on. */
  readonly full: boolean;
  /** A split output's current file, index, length and rows (split.ts); absent for one file. */
  readonly part?: SplitPart;
  /** Hands buffered bytes to the OS. */
  drain(): Promise<void>;
  /**
   * Makes everything accepted so far durable (fsync). What counts as "so far" is fixed
   * synchronously, when `sync()` is called, so a position taken in the same tick matches it.
   * An S3 sink returns what a checkpoint must record to resume it; local files need nothing.
   */
  sync(): Promise<S3SinkState | void>;
  /**
   * Called once a checkpoint recording the last `sync()`'s state has been saved: what no
   * saved checkpoint names any more may go (S3: segment objects a part has replaced).
   */
  checkpointed?(): void;
  /**
   * `finished` false: the run stopped early and will be resumed; an S3 sink then leaves its
   * upload open instead of completing a partial object at the final key. @default true
   */
  close(finished?: boolean): Promise<void>;
}
