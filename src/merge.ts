import { S3Access } from './aws/s3client.js';
import { isS3Url, parseS3Url } from './aws/s3url.js';
import type { S3Settings } from './aws/settings.js';
import { formatFromPath, type Format } from './config.js';
import { ExitCode, ExitError, usageError } from './errors.js';
import { openFileTarget, type MergeTarget } from './merge/file-target.js';
import { checkSources, readSource, sourceOf } from './merge/sources.js';
import { Joiner } from './merge/join.js';

export interface MergeArgs {
  /** Shard files or s3:// objects in order; or one `{shard}` template with `shards`. */
  inputs: string[];
  shards?: number | undefined;
  /** A local path or an s3:// URL. */
  output: string;
  format?: string | undefined;
  /** Only used when an input or the output is on S3. */
  s3: S3Settings;
  /** Aborted (SIGINT/SIGTERM): the merge stops and leaves no output; `reason` is the signal. */
  stop?: AbortSignal | undefined;
}

export interface MergeResult {
  files: number;
  bytes: number;
  /** Data lines written (CSV rows without headers; JSONL objects). */
  lines: number;
  /** Where it went: an absolute path or the s3:// URL. */
  output: string;
}

/** `out/shard-{shard}.csv` with 3 shards → the three paths, in shard order. */
export function mergeInputs(a: Pick<MergeArgs, 'inputs' | 'shards'>): string[] {
  if (a.shards === undefined) return a.inputs;
  if (a.inputs.length !== 1 || !a.inputs[0]!.includes('{shard}')) throw usageError('--shards needs exactly one input path containing {shard}');
  if (!Number.isInteger(a.shards) || a.shards < 1) throw usageError(`--shards expects a whole number of at least 1, got ${a.shards}`);
  return Array.from({ length: a.shards }, (_, i) => a.inputs[0]!.replaceAll('{shard}', String(i)));
}

/**
 * `merge`: joins shard outputs (local files or s3:// objects, mixed as they come) into one
 * file with one header, for email tools that take one file. Streams: memory is one read
 * buffer, plus one multipart part for an s3:// output. Every CSV input must have the same
 * header line. The result appears at once (README, "Several processes: Redis and shards"):
 * locally a temporary file renamed at the end, on S3 a multipart upload completed at the end;
 * any error or signal removes the temporary file or aborts the upload.
 */
export async function runMerge(a: MergeArgs): Promise<MergeResult> {
  const sources = mergeInputs(a).map(sourceOf);
  if (sources.length === 0) throw usageError('merge needs at least one input file');
  let format: Format = formatFromPath(a.output);
  if (a.format !== undefined) {
    if (a.format !== 'csv' && a.format !== 'jsonl') throw usageError(`--format expects csv or jsonl, got ${a.format}`);
    format = a.format;
  }
  const outLoc = isS3Url(a.output) ? parseS3Url(a.output) : undefined;
  if (typeof outLoc === 'string') throw usageError(`merge: --output ${a.output}: ${outLoc}`);

  // The SDK is loaded only when something is on S3.
  const s3 = outLoc || sources.some((s) => s.kind === 's3') ? await S3Access.create(a.s3) : undefined;
  try {
    await checkSources(sources, s3);
    const target: MergeTarget = outLoc
      ? await (await import('./merge/s3.js')).openS3Target(s3!, outLoc, { partSize: a.s3.partSize, contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson' })
      : await openFileTarget(a.output);
    const joiner = new Joiner(format);
    let bytes = 0;
    const write = async (bufs: Buffer[]) => {
      for (const b of bufs) {
        if (a.stop?.aborted) throw stopped(a.stop);
        await target.write(b);
        bytes += b.length;
      }
    };
    try {
      for (const src of sources) {
        joiner.start(src.name);
        for await (const chunk of await readSource(src, s3)) await write(joiner.chunk(chunk as Buffer));
        await write(joiner.end());
      }
      if (a.stop?.aborted) throw stopped(a.stop);
      await target.commit();
    } catch (err) {
      await target.abort();
      throw err;
    }
    return { files: sources.length, bytes, lines: joiner.lines, output: target.name };
  } finally {
    s3?.destroy();
  }
}

function stopped(signal: AbortSignal): ExitError {
  const sig = String(signal.reason);
  return new ExitError('interrupted', `merge stopped by ${sig}: no output written`, sig === 'SIGINT' ? ExitCode.sigint : ExitCode.sigterm);
}
