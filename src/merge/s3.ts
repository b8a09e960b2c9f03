/**
 * The S3 side of `merge`, loaded only when an input or the output is on S3 (the SDK takes
 * about 100 ms to load; a local merge never pays it).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '../aws/s3-sdk.js';
import { describeS3Error, isNotFound } from '../aws/errors.js';
import type { S3Access } from '../aws/s3client.js';
import type { S3Location } from '../aws/s3url.js';
import { ExitError, inputError, outputError } from '../errors.js';
import { openS3Input } from '../sources/s3.js';
import type { MergeTarget } from './file-target.js';

/** Exit 2 naming the object when it is not there (or cannot be read). */
export async function checkS3Source(s3: S3Access, loc: S3Location): Promise<void> {
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
  } catch (err) {
    throw inputError(`merge: ${loc.url}: ${await whyMissing(err, loc, s3)}`);
  }
}

/** A HEAD 404 has no body to say whether the bucket or the key is missing: ask the bucket. */
async function whyMissing(err: unknown, loc: S3Location, s3: S3Access): Promise<string> {
  if (!isNotFound(err)) return describeS3Error(err, loc.bucket);
  const bucket = await s3.client.send(new HeadBucketCommand({ Bucket: loc.bucket })).then(
    () => true,
    (e: unknown) => !isNotFound(e),
  );
  return bucket ? 'no such object' : `no such bucket (${loc.bucket})`;
}

/**
 * The object's bytes in ranged GETs pinned to its ETag (the export's S3 input reader), so an
 * object replaced while it is read fails the merge instead of mixing two versions.
 */
export async function readS3Source(s3: S3Access, loc: S3Location): Promise<AsyncIterable<Buffer>> {
  const opened = await openS3Input(loc, s3);
  return opened.stream(0) as AsyncIterable<Buffer>;
}

export interface S3TargetOptions {
  /** Bytes per part: what is held in memory before it is uploaded. */
  partSize: number;
  contentType: string;
}

/**
 * An S3 object written as one multipart upload, completed only by `commit()`: until then S3
 * shows nothing at the key (or the previous object, unchanged). The upload is started at once,
 * so a missing bucket, refused credentials or a refused KMS key are exit 2 before any input is
 * read. `abort()` aborts the upload, so its parts are not kept (and billed) for nothing.
 */
export async function openS3Target(s3: S3Access, loc: S3Location, o: S3TargetOptions): Promise<MergeTarget> {
  const { bucket, key } = loc;
  const fail = (what: string, err: unknown) => new ExitError('unavailable', `merge: --output ${loc.url}: ${what}: ${describeS3Error(err, bucket)}; nothing was written, rerun the merge`);
  // As the export's S3 sink: with the SDK's default checksums, parts carry CRC32s and
  // CompleteMultipartUpload must hand them back.
  const crc = (await s3.client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
  let uploadId: string;
  try {
    const r = await s3.client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: o.contentType, ...s3.sse, ...(crc ? { ChecksumAlgorithm: 'CRC32' as const } : {}) }),
    );
    if (!r.UploadId) throw new Error('CreateMultipartUpload answered no UploadId');
    uploadId = r.UploadId;
  } catch (err) {
    throw outputError(`merge: --output ${loc.url}: ${describeS3Error(err, bucket)}`);
  }
  const parts: Array<{ PartNumber: number; ETag: string; ChecksumCRC32?: string }> = [];
  let held: Buffer[] = [];
  let heldBytes = 0;
  let total = 0;

  const uploadPart = async (body: Buffer) => {
    const n = parts.length + 1;
    if (n > 10_000) throw outputError(`merge: --output ${loc.url}: more than 10,000 parts; raise --s3-part-size`);
    try {
      const r = await s3.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body }));
      if (!r.ETag) throw new Error(`UploadPart ${n} answered no ETag`);
      parts.push({ PartNumber: n, ETag: r.ETag, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}) });
    } catch (err) {
      throw fail(`uploading part ${n}`, err);
    }
  };
  const takeHeld = () => {
    const body = held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    return body;
  };

  return {
    name: loc.url,
    async write(buf) {
      held.push(buf);
      heldBytes += buf.length;
      total += buf.length;
      // Parts of exactly partSize bytes (the last may be smaller): S3 wants all but the last >= 5 MiB.
      while (heldBytes >= o.partSize) {
        const all = takeHeld();
        await uploadPart(all.subarray(0, o.partSize));
        if (all.length > o.partSize) {
          held = [all.subarray(o.partSize)];
          heldBytes = all.length - o.partSize;
        }
      }
    },
    async commit() {
      try {
        if (total === 0) {
          // An empty object needs no upload (and a zero-byte part is refused by some stores).
          await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(0), ContentType: o.contentType, ...s3.sse }));
          await s3.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
          return;
        }
      } catch (err) {
        throw fail('writing the empty object', err);
      }
      if (heldBytes > 0) await uploadPart(takeHeld());
      try {
        await s3.client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      } catch (err) {
        throw fail('completing the upload', err);
      }
    },
    async abort() {
      held = [];
      await s3.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    },
  };
}
