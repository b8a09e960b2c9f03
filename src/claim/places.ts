import { basename, dirname, join } from 'node:path';
import { isS3Url, parseS3Url, type S3Location } from '../aws/s3url.js';
import { type LocationsConfig, runLocations } from '../preflight/locations.js';

/** What a run writes, in the words its refusal uses. */
export type Role = 'checkpoint' | 'output' | 'errors file' | 'summary' | 'metrics file' | 'state' | 'removed file';

/** One location a run writes, and where its claim lives (README "Operating it", "One run per job"). */
export type Place =
  | { role: Role; name: string; kind: 'file'; path: string }
  | { role: Role; name: string; kind: 's3'; target: S3Location; lease: S3Location };

const ROLE: Record<string, Role> = {
  '--checkpoint': 'checkpoint',
  '--output': 'output',
  '--errors': 'errors file',
  '--summary': 'summary',
  '--metrics-file': 'metrics file',
  '--state': 'state',
  '--removed': 'removed file',
};

/**
 * Every location the run writes (the run's own list, preflight/locations.ts): the checkpoint
 * first (a second run of the same job is refused on it, and named as such), then the others.
 * stdout has no claim: nothing else can write it. A split output is claimed on the path its
 * parts are named from.
 */
export function claimPlaces(cfg: LocationsConfig): Place[] {
  const written = runLocations(cfg).filter((l) => l.writes);
  written.sort((a, b) => Number(b.flag === '--checkpoint') - Number(a.flag === '--checkpoint'));
  const places: Place[] = [];
  for (const { flag, name } of written) {
    const role = ROLE[flag]!;
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
