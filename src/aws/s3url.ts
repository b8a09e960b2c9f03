import type { S3Location } from '../contracts/location.js';

export type { S3Location };
export const isS3Url = (s: string | undefined): s is string => s !== undefined && /^s3:\/\//i.test(s);

/**
 * Parses `s3://bucket/key`; returns what is wrong in words when it is not one object's URL.
 * The key is kept verbatim (S3 keys may hold spaces, `{`, `+`...); a key ending in `/` names a
 * folder, never the one object an export reads or writes.
 */
export function parseS3Url(url: string): S3Location | string {
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (!bucket) return 'no bucket (expected s3://bucket/key)';
  if (!key) return 'no key (expected s3://bucket/key)';
  if (key.endsWith('/')) return 'the key ends with / (a folder, not an object)';
  return { kind: 's3', url: `s3://${bucket}/${key}`, bucket, key };
}

export const s3Url = (bucket: string, key: string) => `s3://${bucket}/${key}`;
