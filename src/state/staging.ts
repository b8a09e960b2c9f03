import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { isNotFound } from '../aws/errors.js';
import { needS3, type S3Access } from '../aws/s3client.js';
import { isS3Url, parseS3Url, type S3Location } from '../aws/s3url.js';
import type { CheckpointState } from '../checkpoint/state.js';
import { ExitError } from '../errors.js';
import { FileSink } from '../sinks/file.js';
import type { S3SinkOptions } from '../sinks/s3.js';
import type { Sink } from '../sinks/sink.js';
import { type RunTempDir, runTempDir } from '../temp-dirs.js';

/**
 * The staging file: one line per user as the writer passes them (state/delta.ts StagedUser),
 * written and committed with the output and the checkpoint, so a resumed run (on another pod,
 * with the checkpoint on S3) knows every user's new content, the unchanged ones included.
 * It lives beside the checkpoint; a run with no checkpoint stages in a temporary directory.
 */
/** The AWS SDK, loaded only for staging on S3: a local run is spared its ~0.2 s of CPU. */
const sdk = () => import('../aws/s3-sdk.js');

/** `temp`: a run with no checkpoint stages in a directory of its own, removed when the run ends. */
export type StagingPlace = { kind: 'file'; path: string; temp?: RunTempDir } | S3Location;

export async function stagingPlace(checkpointPath: string | null): Promise<StagingPlace> {
  if (checkpointPath === null) {
    const temp = await runTempDir('staging');
    return { kind: 'file', path: join(temp.path, 'staging.jsonl'), temp };
  }
  const at = `${checkpointPath}.state-staging.jsonl`;
  if (!isS3Url(at)) return { kind: 'file', path: at };
  const loc = parseS3Url(at);
  if (typeof loc === 'string') throw new Error(`staging ${at}: ${loc}`);
  return loc;
}

/** Lazy: no S3 object at all for a run with no users; the old one is removed at a fresh start. */
const s3Options = (partSize: number): S3SinkOptions => ({ partSize, flag: '--state (staging)', contentType: 'application/x-ndjson', lazyHeader: '' });

export async function openStaging(place: StagingPlace, s3: S3Access | undefined, partSize: number, from: CheckpointState | undefined): Promise<Sink> {
  if (place.kind === 'file') return FileSink.open(place.path, from?.stagingBytes);
  const { S3Sink } = await import('../sinks/s3.js');
  return from ? S3Sink.resume(needS3(s3), place, s3Options(partSize), from.stagingState, from.stagingBytes) : S3Sink.create(needS3(s3), place, s3Options(partSize));
}

/** A finished export killed before its S3 staging object was completed: complete it from the checkpoint. */
export async function recoverStaging(place: StagingPlace, s3: S3Access | undefined, partSize: number, from: CheckpointState): Promise<void> {
  if (place.kind === 'file') return;
  const { S3Sink } = await import('../sinks/s3.js');
  await S3Sink.recover(needS3(s3), place, s3Options(partSize), from.stagingState, from.stagingBytes);
}

/** The staged lines, in order; none when the file or object does not exist (a run with no users). */
export async function* stagedLines(place: StagingPlace, s3: S3Access | undefined): AsyncGenerator<string> {
  let body: Readable;
  if (place.kind === 'file') {
    body = createReadStream(place.path);
  } else {
    const { GetObjectCommand } = await sdk();
    try {
      const r = await needS3(s3).client.send(new GetObjectCommand({ Bucket: place.bucket, Key: place.key }));
      body = r.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  try {
    for await (const line of lines) if (line !== '') yield line;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
}

/**
 * The staging file a finished export left must be whole before the state is moved on from it:
 * a missing one would make every user look removed.
 */
export async function checkStaging(place: StagingPlace, s3: S3Access | undefined, bytes: number): Promise<void> {
  let size = 0;
  try {
    if (place.kind === 'file') size = (await stat(place.path)).size;
    else size = (await needS3(s3).client.send(new (await sdk()).HeadObjectCommand({ Bucket: place.bucket, Key: place.key }))).ContentLength ?? 0;
  } catch (err) {
    if (!((err as NodeJS.ErrnoException).code === 'ENOENT' || isNotFound(err))) throw err;
  }
  if (size !== bytes) {
    throw new ExitError('checkpoint', `the staging file ${place.kind === 'file' ? place.path : place.url} holds ${size} bytes, the checkpoint committed ${bytes}; the state cannot be finished from it: rerun with --fresh`);
  }
}

/** Once the state holds the run's results, the staging file is no longer needed. */
export async function removeStaging(place: StagingPlace, s3: S3Access | undefined): Promise<void> {
  if (place.kind === 'file') {
    await (place.temp ? place.temp.remove() : rm(place.path, { force: true }));
    return;
  }
  const { DeleteObjectCommand } = await sdk();
  await needS3(s3).client.send(new DeleteObjectCommand({ Bucket: place.bucket, Key: place.key }));
}
