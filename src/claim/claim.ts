import type { S3Access } from '../aws/s3client.js';
import { needS3 } from '../aws/s3client.js';
import type { ExportConfig } from '../config.js';
import type { LocationsConfig } from '../preflight/locations.js';
import { describe, ExitError, outputError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Holder, describeHolder, refusal, thisRun } from './holder.js';
import { localLockPath, takeLocalLock } from './local-lock.js';
import { claimPlaces, type Place } from './places.js';

/** A second run of a job, or a second job on a file: exit 2, and nothing was written or sent. */
export class ClaimRefused extends ExitError {
  constructor(message: string) {
    super('checkpoint', message);
  }
}

/** What the run holds until the process ends. */
export interface Claim {
  /** Aborted when an S3 lease is lost: the run stops at once and writes no more. */
  readonly lost: AbortSignal;
  /** Throws the reason the claim was lost, if it was: before a checkpoint is written. */
  throwIfLost(): void;
}

type ClaimSettings = LocationsConfig & Pick<ExportConfig, 'takeOverLease' | 'leaseSeconds'>;

/** Released by `releaseClaims()` when the process is about to exit (cli.ts), after the summary. */
const held: Array<() => unknown> = [];

/**
 * Claims every location the run writes, the checkpoint first (README "Operating it", "One run
 * per job"): a local file by a kernel lock beside it, an S3 object by a lease object beside it.
 * The first location held by another run refuses this one with one line naming that run; what
 * was taken before it is given back. Taken before any file is written or request sent.
 */
export async function claimRun(cfg: ClaimSettings, ctx: { s3: S3Access | undefined; log: Logger }): Promise<Claim> {
  const places = claimPlaces(cfg);
  const me = thisRun(places[0]?.name ?? null);
  const mine: Array<() => unknown> = [];
  const lost: AbortSignal[] = [];
  const checks: Array<() => void> = [];
  const seen = new Set<string>();
  try {
    for (const p of places) {
      if (p.kind === 'file') {
        const path = localLockPath(p.path);
        if (seen.has(path)) continue;
        seen.add(path);
        const r = attempt(p, () => takeLocalLock(path, me));
        if (!r) continue;
        if ('refused' in r) throw new ClaimRefused(refusal(p.role, p.name, r.refused, localHint(r.refused, cfg.takeOverLease)));
        mine.push(() => r.held.release());
      } else {
        if (seen.has(p.lease.url)) continue;
        seen.add(p.lease.url);
        // The SDK only when a location is on S3 (as aws/s3client.ts does).
        const { takeLease } = await import('./s3-lease.js');
        const r = await attempt(p, () => takeLease(needS3(ctx.s3), p.lease, me, { leaseSeconds: cfg.leaseSeconds, force: cfg.takeOverLease, log: ctx.log }));
        if (!r) continue;
        if ('refused' in r) throw new ClaimRefused(refusal(p.role, p.name, r.refused, leaseHint(r.ageMs, r.leaseSeconds)));
        if (r.tookOver) {
          const why = cfg.takeOverLease ? 'as --take-over-lease asks' : `not renewed for ${Math.round(r.tookOver.ageMs / 1000)} s`;
          ctx.log.warn({ lease: p.lease.url, previousHolder: r.tookOver.holder }, `took over the lease on the ${p.role} ${p.name} from ${describeHolder(r.tookOver.holder)} (${why})`);
        }
        mine.push(() => r.held.release());
        lost.push(r.held.lost);
        checks.push(() => r.held.check());
      }
    }
  } catch (err) {
    await giveBack(mine);
    throw err;
  }
  held.push(...mine);
  const signal = AbortSignal.any(lost);
  return {
    lost: signal,
    throwIfLost() {
      for (const check of checks) check();
      if (signal.aborted) throw signal.reason instanceof ExitError ? signal.reason : new ExitError('checkpoint', describe(signal.reason));
    },
  };
}

/** Gives back every claim this process holds (idempotent). Local locks would go with the process anyway. */
export async function releaseClaims(): Promise<void> {
  await giveBack(held.splice(0));
}

async function giveBack(fns: Array<() => unknown>): Promise<void> {
  for (const f of fns.reverse()) await Promise.resolve().then(f).catch(() => undefined);
}

/**
 * A claim that cannot be taken at all (a directory that cannot be written, S3 unreachable) is
 * exit 2 before any request. Except for the summary and metrics files: written at the end of
 * the run, their failure is said then (exit 1 after the export is done, README "Operating it"),
 * and a place nobody can write is a place no two runs share.
 */
function attempt<T>(p: Place, take: () => T): T | undefined {
  const endOfRun = p.role === 'summary' || p.role === 'metrics file';
  const fail = (err: unknown): undefined => {
    if (endOfRun && !(err instanceof ExitError)) return undefined;
    throw err instanceof ExitError ? err : outputError(`cannot claim the ${p.role} ${p.name}: ${describe(err)}`);
  };
  try {
    const r = take();
    return (r instanceof Promise ? r.catch(fail) : r) as T;
  } catch (err) {
    return fail(err);
  }
}

function localHint(h: Holder | null, force: boolean): string {
  const where = h && h.host !== thisRun(null).host ? ' (from another host sharing this filesystem)' : '';
  return `the lock${where} ends with that process${force ? ' and cannot be taken over' : ''}: wait for it to finish`;
}

const leaseHint = (ageMs: number, leaseSeconds: number) =>
  `its lease was renewed ${Math.round(ageMs / 1000)} s ago and is taken over once not renewed for ${leaseSeconds} s; if that run is gone, rerun with --take-over-lease`;
