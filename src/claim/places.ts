import { basename, dirname, join } from 'node:path';
import { isS3Url, parseS3Url, type S3Location } from '../aws/s3url.js';
import type { ExportConfig } from '../config.js';

/** What a run writes, in the words its refusal uses. */
export type Role = 'checkpoint' | 'output' | 'errors file' | 'summary' | 'metrics file';

/** One location a run writes, and where its claim lives (README "Operating it", "One run per job"). */
export type Place =
  | { role: Role; name: string; kind: 'file'; path: string }
  | { role: Role; name: string; kind: 's3'; target: S3Location; lease: S3Location };

/**
 * Every location the run writes: the checkpoint first (a second run of the same job is refused
 * on it, and named as such), then the others. stdout has no claim: nothing else can write it.
 * A split output is claimed on the path its parts are named from.
 */
export function claimPlaces(cfg: Pick<ExportConfig, 'checkpointPath' | 'output' | 'errorsPath' | 'summaryPath' | 'metricsPath'>): Place[] {
  const named: Array<[Role, string | null]> = [
    ['checkpoint', cfg.checkpointPath],
    ['output', cfg.output.kind === 'file' ? cfg.output.path : cfg.output.kind === 's3' ? cfg.output.url : null],
    ['errors file', cfg.errorsPath],
    ['summary', cfg.summaryPath],
    ['metrics file', cfg.metricsPath],
  ];
  const places: Place[] = [];
  for (const [role, name] of named) {
    if (name === null) continue;
    const target = isS3Url(name) ? parseS3Url(name) : null;
    if (typeof target === 'string') continue; // config.ts has refused it already
    places.push(target ? { role, name, kind: 's3', target, lease: leaseOf(target) } : { role, name, kind: 'file', path: name });
  }
  return places;
}

/** The lock file of a local file: hidden, beside it (`out.csv` -> `.out.csv.lock`). */
export const lockPathOf = (path: string): string => join(dirname(path), `.${basename(path)}.lock`);

/** The lease object of an S3 object: beside it (`exports/out.csv` -> `exports/.out.csv.lease`). */
export function leaseOf(target: S3Location): S3Location {
  const slash = target.key.lastIndexOf('/');
  const key = `${target.key.slice(0, slash + 1)}.${target.key.slice(slash + 1)}.lease`;
  return { kind: 's3', bucket: target.bucket, key, url: `s3://${target.bucket}/${key}` };
}
