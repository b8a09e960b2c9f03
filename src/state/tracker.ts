import type { Sink } from '../sinks/sink.js';
import type { UserTracker } from '../contracts/tracker.js';
import { contentHash, delivery, identityKey, stagedLine } from './delta.js';

export type { UserTracker };

/**
 * Compares each user's rows with the state (a SQLite lookup by key, no per-user memory) and
 * appends a line to the staging sink; the state itself changes only when the run completes.
 */
export class StateTracker implements UserTracker {
  constructor(
    /** The state's hash for a key; a reset state answers none. */
    private readonly previous: (key: string) => Buffer | undefined,
    readonly staging: Sink,
    readonly delta: boolean,
    /** The run's fetch time (epoch ms), the same for every user of the run and of its resumes. */
    readonly at: number,
  ) {}

  deliver(u: { user_id: string; device_id: string }, rows: string): 'new' | 'changed' | 'unchanged' {
    const k = identityKey(u);
    const h = contentHash(rows);
    const d = delivery(this.previous(k), h);
    const t = this.at;
    this.staging.write(stagedLine(d === 'unchanged' ? { k, t } : { k, h: h.toString('base64'), t, r: rows }));
    return d;
  }

  keep(u: { user_id: string; device_id: string }): void {
    const k = identityKey(u);
    if (k !== '') this.staging.write(stagedLine({ k }));
  }

  get full(): boolean {
    return this.staging.full;
  }

  drain(): Promise<void> {
    return this.staging.drain();
  }
}
