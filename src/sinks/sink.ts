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
  /** Drains, then makes everything accepted durable (fsync). */
  sync(): Promise<void>;
  close(): Promise<void>;
}
