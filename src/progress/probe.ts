import type { Counts, RequestCounts } from '../pipeline/counters.js';
import type { RateLimit } from '../pipeline/limiter.js';

/**
 * What the progress reporter reads from a running export: counters the pipeline keeps anyway,
 * read on a timer, so reporting adds no work per user.
 */
export interface ProgressProbe {
  /** The ordered writer's position: input bytes written through and counts per status. */
  position(): { offset: number; counts: Counts };
  /** This process's request counters (live object). */
  requests: Readonly<RequestCounts>;
  /** The limiter's adaptive share of the configured rate (1 = full). */
  share(): number;
  /** The input's size in bytes; null for stdin (no percent, no ETA). */
  inputBytes: number | null;
  rate: RateLimit;
}

/** Starts reporting on a probe; the returned function stops it (and clears a terminal line). */
export type StartProgress = (probe: ProgressProbe) => () => void;
