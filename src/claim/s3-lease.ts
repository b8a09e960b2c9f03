import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '../aws/s3-sdk.js';
import { describeS3Error, isNotFound, isPreconditionFailed, s3Status } from '../aws/errors.js';
import type { S3Access } from '../aws/s3client.js';
import type { S3Location } from '../aws/s3url.js';
import { ExitError, type FatalCode } from '../errors.js';
import type { Logger } from '../log.js';
import { type Holder, describeHolder, parseHolder } from './holder.js';
import { isStale, leaseAgeMs, renewEveryMs } from './lease-age.js';

/** A lease this run holds, renewed in the background until release. */
export interface S3Lease {
  readonly url: string;
  /** Aborted when the lease is lost (taken over, or not renewed in time): the run must stop writing. */
  readonly lost: AbortSignal;
  /** Marks the lease lost now if it went unrenewed for the lease time (a process paused, then resumed). */
  check(): void;
  release(): Promise<void>;
}

export type LeaseAttempt =
  | { held: S3Lease; tookOver: { holder: Holder | null; ageMs: number } | null }
  | { refused: Holder | null; ageMs: number; leaseSeconds: number };

export interface LeaseOptions {
  leaseSeconds: number;
  /** Take over a lease that is still fresh (a person knows its run is gone). */
  force: boolean;
  log: Logger;
}

interface Current {
  etag: string;
  holder: Holder | null;
  ageMs: number;
}

/**
 * Takes the lease object beside an S3 location (README "Operating it"): created only if absent
 * (PutObject If-None-Match: *), renewed while the run lives (If-Match on its own ETag), and
 * taken over (If-Match on the ETag read) only when it went unrenewed for longer than the lease
 * time its holder wrote, or when forced. S3 answers 412 to the loser of any of these races.
 */
export async function takeLease(s3: S3Access, loc: S3Location, holder: Holder, o: LeaseOptions): Promise<LeaseAttempt> {
  const put = async (cond: { IfNoneMatch?: string; IfMatch?: string }, renewal: number) => {
    const body = JSON.stringify({ ...holder, leaseSeconds: o.leaseSeconds, renewal, renewedAt: new Date().toISOString() });
    const r = await s3.client.send(new PutObjectCommand({ Bucket: loc.bucket, Key: loc.key, Body: body, ContentType: 'application/json', ...cond, ...s3.sse }));
    return r.ETag!;
  };
  // A lease that changes hands between our requests is read again, a few times, then given up on.
  for (let attempt = 0; attempt < 5; attempt++) {
    let sentAt = performance.now();
    try {
      const etag = await put({ IfNoneMatch: '*' }, 0);
      return { held: renewing(s3, loc, etag, sentAt, put, o), tookOver: null };
    } catch (err) {
      if (!isPreconditionFailed(err) && !isConflict(err)) throw leaseError(loc, err);
    }
    const current = await readLease(s3, loc);
    if (!current) continue; // released between the two requests: create it again
    const theirs = current.holder?.leaseSeconds ?? o.leaseSeconds;
    if (!o.force && !isStale(current.ageMs, theirs)) return { refused: current.holder, ageMs: current.ageMs, leaseSeconds: theirs };
    sentAt = performance.now();
    try {
      const etag = await put({ IfMatch: current.etag }, 0);
      return { held: renewing(s3, loc, etag, sentAt, put, o), tookOver: { holder: current.holder, ageMs: current.ageMs } };
    } catch (err) {
      // Renewed, taken or removed by another run meanwhile (412, 409, 404): look again.
      if (!(isPreconditionFailed(err) || isConflict(err) || isNotFound(err))) throw leaseError(loc, err);
    }
  }
  throw new Error(`cannot take the lease ${loc.url}: it kept changing hands`);
}

function renewing(s3: S3Access, loc: S3Location, first: string, firstSentAt: number, put: (c: { IfMatch: string }, renewal: number) => Promise<string>, o: LeaseOptions): S3Lease {
  const lost = new AbortController();
  let etag = first;
  let renewal = 0;
  // When the last successful renewal was sent: S3 stamped it later than that, so another run,
  // which waits the lease time from that stamp, never takes over before this run counts it lost.
  let lastOk = firstSentAt;
  let busy: Promise<void> | null = null;
  // Taken over: exit 2, the other run does the job. Not renewed (S3 unreachable): exit 5, rerun.
  const lose = (why: string, code: FatalCode) => {
    if (lost.signal.aborted) return;
    o.log.error({ lease: loc.url }, `lost the lease ${loc.url}: ${why}; stopping without writing more`);
    lost.abort(new ExitError(code, `lost the lease ${loc.url}: ${why}; this run stopped without writing more`));
    clearInterval(timer);
  };
  const renew = async () => {
    const sentAt = performance.now();
    try {
      etag = await put({ IfMatch: etag }, ++renewal);
      lastOk = sentAt;
    } catch (err) {
      if (isPreconditionFailed(err) || isNotFound(err)) {
        const now = await readLease(s3, loc).catch(() => null);
        lose(now ? `another run took it over (${describeHolder(now.holder)})` : 'another run took it over and removed it', 'checkpoint');
      } else {
        o.log.warn({ lease: loc.url, err: describeS3Error(err, loc.bucket) }, 'could not renew the lease; retrying');
      }
    }
  };
  // On the monotonic clock: a request that hangs still lets the run notice that its lease may
  // have gone to another run, and stop before that run starts writing.
  const expired = () => {
    if (performance.now() - lastOk > o.leaseSeconds * 1000) lose(`not renewed for ${o.leaseSeconds} s`, 'unavailable');
    return lost.signal.aborted;
  };
  const timer = setInterval(() => {
    if (!expired() && !busy) busy = renew().finally(() => (busy = null));
  }, renewEveryMs(o.leaseSeconds));
  timer.unref();
  return {
    url: loc.url,
    lost: lost.signal,
    check: () => void expired(),
    async release() {
      clearInterval(timer);
      await busy;
      if (lost.signal.aborted) return;
      try {
        await s3.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: loc.key, IfMatch: etag }));
      } catch (err) {
        // Not ours any more (412): leave it. Anything else: the next run waits out the lease.
        if (!isPreconditionFailed(err)) o.log.warn({ lease: loc.url, err: describeS3Error(err, loc.bucket) }, `could not remove the lease; the next run may wait up to ${o.leaseSeconds} s`);
      }
    },
  };
}

/** The lease as it is now, its age on S3's clock; null when there is none. */
async function readLease(s3: S3Access, loc: S3Location): Promise<Current | null> {
  const get = new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key });
  let serverDate: Date | undefined;
  get.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const date = (out.response as { headers?: Record<string, string> } | undefined)?.headers?.date;
      if (date && !Number.isNaN(Date.parse(date))) serverDate = new Date(date);
      return out;
    },
    { step: 'finalizeRequest', name: 'leaseServerDate' },
  );
  try {
    const r = await s3.client.send(get);
    const text = await r.Body!.transformToString('utf8');
    return { etag: r.ETag!, holder: parseHolder(text), ageMs: leaseAgeMs(r.LastModified, serverDate, new Date()) };
  } catch (err) {
    if (isNotFound(err) && (err as Error).name !== 'NoSuchBucket') return null;
    throw leaseError(loc, err);
  }
}

/** 409 ConditionalRequestConflict: S3's answer to two conditional writes racing on one key. */
const isConflict = (err: unknown) => s3Status(err) === 409;

const leaseError = (loc: S3Location, err: unknown) => Object.assign(new Error(`cannot take the lease ${loc.url}: ${describeS3Error(err, loc.bucket)}`), { cause: err });
