import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand } from '../aws/s3-sdk.js';
import { Readable } from 'node:stream';
import { describeS3Error, isNotFound, isPreconditionFailed } from '../aws/errors.js';
import type { S3Access } from '../aws/s3client.js';
import type { S3Location } from '../aws/s3url.js';
import { ExitError, inputError } from '../errors.js';
import type { OpenedInput } from './input.js';

/**
 * Bytes per ranged GET. Each range is read whole before it is handed on, so no connection
 * stays open while the pipeline waits on the rate limit: at 600 requests a minute a 4 MiB
 * range of ids lasts hours, and a response body left unread that long is reset by the server
 * (or a NAT) long before. Memory: one range plus the parser's buffer.
 */
export const RANGE_BYTES = 4 * 1024 * 1024;
const FIRST_RANGE_BYTES = 64 * 1024;
/** Attempts per range for a body cut off mid-way (the SDK retries the request, not its body). */
const RANGE_ATTEMPTS = 3;

/**
 * `--input s3://bucket/key`: HeadObject first, so a missing object, a refused request or an
 * unreachable endpoint stops the job with one line (exit 2) before any API request. The
 * identity (size and ETag) goes into the job's fingerprint; every range is read with
 * `If-Match: <etag>`, so an object replaced mid-run fails instead of mixing two files.
 */
export async function openS3Input(loc: S3Location, s3: S3Access, rangeBytes = RANGE_BYTES): Promise<OpenedInput> {
  let head;
  try {
    head = await s3.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
  } catch (err) {
    throw inputError(`--input ${loc.url}: ${await whyMissing(err, loc, s3)}`);
  }
  const etag = head.ETag;
  const size = head.ContentLength;
  if (!etag || size === undefined) throw inputError(`--input ${loc.url}: the store answered HeadObject without an ETag or a length`);
  return {
    name: loc.url,
    identity: { path: loc.url, size, etag },
    stream: (offset = 0) => Readable.from(ranges(loc, s3, etag, size, offset, rangeBytes), { objectMode: false }),
    // Every range is read with If-Match: a replaced object has already stopped the run.
    unchanged: async () => undefined,
  };
}

/** A HEAD 404 has no body to say whether the bucket or the key is missing: ask the bucket. */
async function whyMissing(err: unknown, loc: S3Location, s3: S3Access): Promise<string> {
  if (!isNotFound(err)) return describeS3Error(err);
  try {
    await s3.client.send(new HeadBucketCommand({ Bucket: loc.bucket }));
    return 'no such object';
  } catch (e) {
    return isNotFound(e) ? `no such bucket (${loc.bucket})` : 'no such object';
  }
}

/**
 * Ranges from `offset`, the first small and doubling up to `rangeBytes`: the CSV reader
 * reopens the input past an unreadable row and often reads only to the next line feed, which
 * must not cost a whole 4 MiB GET each time.
 */
async function* ranges(loc: S3Location, s3: S3Access, etag: string, size: number, offset: number, rangeBytes: number): AsyncGenerator<Buffer> {
  let want = Math.min(FIRST_RANGE_BYTES, rangeBytes);
  for (let at = offset; at < size; want = Math.min(want * 2, rangeBytes)) {
    const last = Math.min(size, at + want) - 1;
    const chunk = await readRange(loc, s3, etag, at, last);
    at += chunk.length;
    yield chunk;
  }
}

async function readRange(loc: S3Location, s3: S3Access, etag: string, first: number, last: number): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await s3.client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key, Range: `bytes=${first}-${last}`, IfMatch: etag }));
      // Belt and braces for a store that ignores If-Match.
      if (r.ETag && r.ETag !== etag) throw changed(loc, etag, r.ETag);
      const bytes = Buffer.from(await r.Body!.transformToByteArray());
      if (bytes.length !== last - first + 1) throw new Error(`short read: bytes ${first}-${last} gave ${bytes.length} bytes`);
      return bytes;
    } catch (err) {
      if (isPreconditionFailed(err)) throw changed(loc, etag);
      if (err instanceof ExitError) throw err;
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // 4xx will not get better; a body cut off mid-way (reset, timeout) may.
      if (attempt >= RANGE_ATTEMPTS || (status !== undefined && status >= 400 && status < 500)) {
        // Exit 5 as for an API outage: the checkpoint is written, a rerun resumes.
        throw new ExitError('unavailable', `${loc.url}: reading bytes ${first}-${last}: ${describeS3Error(err, loc.bucket)}; rerun to resume`);
      }
    }
  }
}

/** Exit 2: the input is not the one the run (and its checkpoint) started with. */
function changed(loc: S3Location, etag: string, now?: string): ExitError {
  return inputError(
    `${loc.url}: the object changed during the run (ETag ${etag} when it started${now ? `, ${now} now` : ''}): its rows would mix two files; rerun with --fresh to export the new one`,
  );
}
