/**
 * `merge` on the command line: its flags (the S3 ones as `export` has them, also read from the
 * same AMP_EXPORT_S3_* variables so that one environment serves both commands), and SIGINT /
 * SIGTERM, which stop it with no output left behind. Never exits the process (cli.ts does).
 */
import type { Argv, CommandModule, Options } from 'yargs';
import { MAX_PART_MIB, MIB, MIN_PART_MIB, SSE_VALUES, type Sse } from '../aws/settings.js';
import { usageError } from '../errors.js';
import { runMerge } from '../merge.js';

const env = (name: string): string | undefined => process.env[`AMP_EXPORT_${name}`] || undefined;

const flags = {
  output: { type: 'string', demandOption: true, describe: 'The merged file: a path or s3://bucket/key (appears whole: temp file + rename, or a multipart upload completed at the end)' },
  shards: { type: 'number', describe: 'Expand {shard} in the one input path to 0..n-1' },
  format: { type: 'string', describe: 'csv or jsonl', defaultDescription: 'from the output extension' },
  's3-path-style': { type: 'boolean', default: env('S3_PATH_STYLE') === 'true', describe: 'Path-style S3 addressing (endpoint/bucket/key), for S3-compatible stores', group: 'S3:' },
  's3-sse': { type: 'string', default: env('S3_SSE'), describe: 'Server-side encryption of the merged object: AES256 or aws:kms', group: 'S3:' },
  's3-kms-key-id': { type: 'string', default: env('S3_KMS_KEY_ID'), describe: 'KMS key id or ARN for --s3-sse aws:kms', defaultDescription: "the bucket's default key", group: 'S3:' },
  's3-part-size': { type: 'number', default: Number(env('S3_PART_SIZE') ?? 8), describe: 'MiB per multipart part of an s3:// output (5 to 5120); also the memory it holds', group: 'S3:' },
} as const satisfies Record<string, Options>;

interface MergeCommandArgs {
  inputs?: string[];
  output: string;
  shards?: number | undefined;
  format?: string | undefined;
  s3PathStyle: boolean;
  s3Sse?: string | undefined;
  s3KmsKeyId?: string | undefined;
  s3PartSize: number;
}

export const mergeCommand: CommandModule<object, MergeCommandArgs> = {
  command: 'merge <inputs..>',
  describe: 'Join shard outputs (files or s3:// objects) into one file with one header (merge out/shard-{shard}.csv --shards 3 --output out/all.csv)',
  builder: (y: Argv) =>
    y
      .positional('inputs', { type: 'string', array: true, describe: 'Shard files or s3:// objects in order, or one location with {shard} and --shards' })
      .options(flags) as unknown as Argv<MergeCommandArgs>,
  handler: async (a) => {
    if (a.s3Sse !== undefined && !SSE_VALUES.includes(a.s3Sse)) throw usageError(`--s3-sse expects ${SSE_VALUES.join(' or ')}, got ${a.s3Sse}`);
    if (a.s3KmsKeyId !== undefined && a.s3Sse !== 'aws:kms') throw usageError('--s3-kms-key-id needs --s3-sse aws:kms');
    if (!Number.isInteger(a.s3PartSize) || a.s3PartSize < MIN_PART_MIB || a.s3PartSize > MAX_PART_MIB) {
      throw usageError(`--s3-part-size expects a whole number of MiB from ${MIN_PART_MIB} to ${MAX_PART_MIB}, got ${a.s3PartSize}`);
    }
    const stop = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => stop.abort(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const r = await runMerge({
        inputs: (a.inputs ?? []).map(String),
        shards: a.shards,
        output: a.output,
        format: a.format,
        s3: { pathStyle: a.s3PathStyle, sse: a.s3Sse as Sse | undefined, kmsKeyId: a.s3KmsKeyId, partSize: a.s3PartSize * MIB },
        stop: stop.signal,
      });
      process.stderr.write(`merged ${r.files} files into ${r.output}: ${r.lines} lines, ${r.bytes} bytes\n`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
