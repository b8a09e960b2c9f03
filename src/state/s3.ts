import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand } from '../aws/s3-sdk.js';
import { describeS3Error, isNotFound, s3Name, s3Status } from '../aws/errors.js';
import type { S3Access } from '../aws/s3client.js';
import type { S3Location } from '../aws/s3url.js';
import { ExitError, StoppedEarly } from '../errors.js';

/**
 * A state on S3 is worked on as a local file: fetched at the start, put back when the run
 * completes, on the condition that the object is still the one fetched (its ETag; or, when
 * there was none, that there still is none). Another run that moved it on in between makes
 * the put fail with 412 instead of losing its results.
 */
export async function fetchState(s3: S3Access, loc: S3Location, localPath: string, stop?: AbortSignal): Promise<string | null> {
  try {
    // A state of ten million users is gigabytes: a stop signal aborts the download.
    const r = await s3.client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), { abortSignal: stop });
    await pipeline(r.Body as Readable, createWriteStream(localPath), { signal: stop });
    return r.ETag ?? null;
  } catch (err) {
    if (stop?.aborted) throw new StoppedEarly(`stopped while fetching the state ${loc.url}`);
    if (isNotFound(err) && s3Name(err) !== 'NoSuchBucket') return null;
    throw new ExitError('output', `--state ${loc.url}: cannot read it: ${describeS3Error(err, loc.bucket)}`);
  }
}

export async function putState(s3: S3Access, loc: S3Location, localPath: string, etag: string | null): Promise<void> {
  try {
    await s3.client.send(
      new PutObjectCommand({
        Bucket: loc.bucket,
        Key: loc.key,
        Body: createReadStream(localPath),
        ContentLength: (await stat(localPath)).size,
        ContentType: 'application/vnd.sqlite3',
        ...(etag === null ? { IfNoneMatch: '*' } : { IfMatch: etag }),
        ...s3.sse,
      }),
    );
  } catch (err) {
    if (s3Status(err) === 412 || s3Name(err) === 'PreconditionFailed') {
      throw new ExitError(
        'checkpoint',
        `--state ${loc.url}: another run moved the state on since this one fetched it; this run's output is complete, but its results are not in the state (the next run against the state delivers them again)`,
      );
    }
    throw new ExitError('unavailable', `--state ${loc.url}: cannot put it back: ${describeS3Error(err, loc.bucket)}; rerun the same command to finish the state update`);
  }
}
