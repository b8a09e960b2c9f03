import { hostname } from 'node:os';
import type { Role } from './places.js';

/**
 * Who holds a claim: written into the lock file or lease object, and read back by the run that
 * is refused, so that its one line names the other run.
 */
export interface Holder {
  host: string;
  pid: number;
  /** When the holder took its claim (ISO, UTC): about when it started. */
  since: string;
  /** The holder's checkpoint (or output when it has none): which job it runs. */
  job: string | null;
  /** S3 leases: how long the holder may go without renewing before its lease may be taken over. */
  leaseSeconds?: number;
}

export function thisRun(job: string | null, now = new Date()): Holder {
  return { host: hostname(), pid: process.pid, since: now.toISOString(), job };
}

/** A holder record, or null when the text is not one (empty, cut short, another program's). */
export function parseHolder(text: string): Holder | null {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h.host !== 'string' || typeof h.pid !== 'number' || typeof h.since !== 'string') return null;
    return { host: h.host, pid: h.pid, since: h.since, job: typeof h.job === 'string' ? h.job : null, ...(typeof h.leaseSeconds === 'number' ? { leaseSeconds: h.leaseSeconds } : {}) };
  } catch {
    return null;
  }
}

export const describeHolder = (h: Holder | null): string => (h ? `pid ${h.pid} on ${h.host}, running since ${h.since}` : 'a run whose lock record cannot be read');

/**
 * The refusal, one line: what is contested, who holds it, what to do. A run refused on its own
 * checkpoint is a second run of the same job; on another file, two jobs share that file.
 */
export function refusal(role: Role, name: string, holder: Holder | null, hint: string): string {
  const other = holder?.job && holder.job !== name ? ` (its job: ${holder.job})` : '';
  const what = role === 'checkpoint' ? `another run of this job holds the checkpoint ${name}` : `another run is writing the ${role} ${name}`;
  return `${what}: ${describeHolder(holder)}${other}; this run wrote nothing and sent no request${hint ? `; ${hint}` : ''}`;
}
