/**
 * The S3 calls the S3 sink makes outside its state machine: reading a checkpoint's segments
 * back, aborting uploads, deleting and sweeping leftovers, checking a finished object.
 */
import { AbortMultipartUploadCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '../aws/s3-sdk.js';
import { describeS3Error, isNoSuchUpload, isNotFound } from '../aws/errors.js';
import type { S3Access } from '../aws/s3client.js';
import { type S3Location, s3Url } from '../aws/s3url.js';
import type { S3SinkState } from '../contracts/positions.js';
import { outputError } from '../errors.js';

type Segment = S3SinkState['segments'][number];

/** A segment of a checkpoint is gone: the export cannot be resumed (or was finished: see S3Sink.recover). */
export class MissingSegment extends Error {}

/** `--fresh`, or a finished job replaced: abort the old upload and delete its segments. */
export async function discard(s3: S3Access, state: S3SinkState): Promise<void> {
  if (state.uploadId) await abort(s3, state.bucket, state.key, state.uploadId).catch(() => undefined);
  await deleteKeys(s3, state.bucket, state.segments.map((s) => s.key)).catch(() => undefined);
  await sweepPrefix(s3, state.bucket, `${state.key}.parts/`).catch(() => undefined);
}

export async function verifyComplete(s3: S3Access, loc: S3Location, o: { flag: string }, bytes: number): Promise<void> {
  let size: number | undefined;
  try {
    size = (await s3.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }))).ContentLength;
  } catch (err) {
    if (!isNotFound(err)) throw outputError(`${o.flag} ${loc.url}: ${describeS3Error(err, loc.bucket)}`);
  }
  if (size !== bytes) {
    throw outputError(
      `${o.flag} ${loc.url}: the checkpoint says the export finished with ${bytes} bytes, but the object ${size === undefined ? 'does not exist' : `has ${size}`} and its upload is gone; rerun with --fresh`,
    );
  }
}

export async function abort(s3: S3Access, bucket: string, key: string, uploadId: string): Promise<void> {
  try {
    await s3.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    if (!isNoSuchUpload(err)) throw err;
  }
}

export async function readSegment(s3: S3Access, bucket: string, seg: Segment): Promise<Buffer> {
  let body: Buffer;
  try {
    const r = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: seg.key }));
    body = Buffer.from(await r.Body!.transformToByteArray());
  } catch (err) {
    if (isNotFound(err)) throw new MissingSegment(`segment ${s3Url(bucket, seg.key)} is gone`);
    throw err;
  }
  if (body.length < seg.bytes) throw new MissingSegment(`segment ${s3Url(bucket, seg.key)} is gone (${body.length} bytes, ${seg.bytes} expected)`);
  return body.subarray(0, seg.bytes);
}

export async function deleteKeys(s3: S3Access, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    await s3.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
  }
}

export async function sweepPrefix(s3: S3Access, bucket: string, prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const r = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    const keys = (r.Contents ?? []).map((o) => o.Key!).filter(Boolean);
    if (keys.length > 0) await deleteKeys(s3, bucket, keys);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
}
