import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { S3Access } from '../aws/s3client.js';
import { isS3Url, parseS3Url, type S3Location } from '../aws/s3url.js';
import { ExitError, inputError, usageError } from '../errors.js';

/** A shard to read: a local file (absolute path) or an S3 object. */
export type MergeSource = { kind: 'file'; name: string; path: string } | (S3Location & { name: string });

/** Parses one input as given on the command line; a malformed s3:// URL is exit 2. */
export function sourceOf(input: string): MergeSource {
  if (!isS3Url(input)) {
    const path = resolve(input);
    return { kind: 'file', name: path, path };
  }
  const loc = parseS3Url(input);
  if (typeof loc === 'string') throw usageError(`merge: ${input}: ${loc}`);
  return { ...loc, name: loc.url };
}

/**
 * Every input must be there before the output is touched: a missing shard (one pod of three
 * failed) is exit 2 naming it, not a merged file with a third of the users. S3 objects are
 * asked with HeadObject, a few at a time.
 */
export async function checkSources(sources: MergeSource[], s3: S3Access | undefined): Promise<void> {
  const failures: unknown[] = new Array(sources.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < sources.length; i = next++) await checkOne(sources[i]!, s3).catch((err: unknown) => (failures[i] = err));
  };
  await Promise.all(Array.from({ length: Math.min(8, sources.length) }, worker));
  // The first missing one in shard order, whatever answered first: the same run, the same line.
  const missing = failures.filter((f) => f !== undefined);
  if (missing.length === 0) return;
  const first = missing[0];
  if (missing.length > 1 && first instanceof ExitError) throw new ExitError(first.code, `${first.message} (and ${missing.length - 1} more of the ${sources.length} inputs)`);
  throw first;
}

async function checkOne(src: MergeSource, s3: S3Access | undefined): Promise<void> {
  if (src.kind === 'file') {
    const st = await stat(src.path).catch(() => undefined);
    if (!st?.isFile()) throw inputError(`merge: ${src.path}: no such file`);
    return;
  }
  const { checkS3Source } = await import('./s3.js');
  await checkS3Source(s3!, src);
}

/** The input's bytes, streamed: a local file in 256 KiB reads, an S3 object in ranged GETs. */
export async function readSource(src: MergeSource, s3: S3Access | undefined): Promise<AsyncIterable<Buffer>> {
  if (src.kind === 'file') return createReadStream(src.path, { highWaterMark: 256 * 1024 });
  const { readS3Source } = await import('./s3.js');
  return readS3Source(s3!, src);
}
