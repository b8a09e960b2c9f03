import type { Readable } from 'node:stream';
import type { JobFingerprint } from '../contracts/job.js';

/** An input opened for reading: what the sources hand the run, whichever the place. */
export interface OpenedInput {
  name: string;
  /** Identity for the checkpoint's fingerprint; null for stdin (cannot be resumed). */
  identity: JobFingerprint['input'] | null;
  /** Opens the byte stream from `offset` (a resume seeks instead of re-reading). */
  stream(offset?: number): Readable;
  /**
   * Throws (exit 2) when the input is no longer the one `identity` describes: called at the
   * end of a run, so that rows appended or changed while it ran are not left out in silence.
   */
  unchanged(): Promise<void>;
}
