import type { S3SinkState } from './s3.js';

/**
 * A byte destination the ordered writer appends to. Writes are buffered; `bytes` counts what
 * was accepted, so after `sync()` it is the committed length a checkpoint may record.
 */
export interface Sink {
  /** Where it goes, for messages. */
  readonly name: string;
  /** Bytes accepted so far, including the length the sink was opened at. */
  readonly bytes: number;
  write(text: string): void;
  /** True when enough is buffered that the writer should `drain()` before going on. */
  readonly full: boolean;
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
