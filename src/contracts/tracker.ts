/** What the ordered writer asks of the state for each user it passes, in input order. */
export interface UserTracker {
  /**
   * A user with rendered rows: stages what the state will hold, and says whether the rows are
   * the same as the state's (`unchanged`); with `delta` those are not written.
   */
  deliver(u: { user_id: string; device_id: string }, rows: string): 'new' | 'changed' | 'unchanged';
  /** A user kept as the state holds it (failed for good, or a row a preset cannot use). */
  keep(u: { user_id: string; device_id: string }): void;
  readonly delta: boolean;
  /** The run's fetch time (epoch ms): every user asked tonight was fetched "at" it. */
  readonly at: number;
  readonly full: boolean;
  drain(): Promise<void>;
}
