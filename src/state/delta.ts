import { createHash } from 'node:crypto';

/**
 * Pure rules of an incremental export (README "Incremental exports"): who a user is to the
 * state, what their content is, and whether tonight's rows go out.
 */

/**
 * The identity key: the user_id, else the device_id, as the Profile API keys profiles. The
 * prefix keeps a user_id and a device_id that read the same apart. Empty when neither is set.
 */
export function identityKey(u: { user_id: string; device_id: string }): string {
  if (u.user_id !== '') return `u:${u.user_id}`;
  if (u.device_id !== '') return `d:${u.device_id}`;
  return '';
}

/**
 * The content hash of a user's rendered rows: every cell the layout writes. No layout writes a
 * fetch time today; one that does must leave it out here, or every user would look changed.
 * 16 bytes of SHA-256: change detection, and ample against an accidental collision.
 */
export function contentHash(rows: string): Buffer {
  return createHash('sha256').update(rows).digest().subarray(0, 16);
}

export type Delivery = 'new' | 'changed' | 'unchanged';

/** `previous`: the hash the state holds for the user, undefined when it holds none. */
export function delivery(previous: Buffer | undefined, now: Buffer): Delivery {
  if (previous === undefined) return 'new';
  return previous.equals(now) ? 'unchanged' : 'changed';
}

/**
 * One line of the staging file: what the state will hold for a user once the run completes.
 * `r` (rows) and `h` (hash) when the content is new or changed; only `t` (fetched at, epoch ms)
 * when unchanged; only `k` when the user is kept as it was (failed for good, or a row a preset
 * could not use): it stays in the state and is not reported as removed.
 */
export interface StagedUser {
  k: string;
  h?: string;
  t?: number;
  r?: string;
}

export function stagedLine(s: StagedUser): string {
  return `${JSON.stringify(s)}\n`;
}

export function parseStaged(line: string): StagedUser {
  const v = JSON.parse(line) as StagedUser;
  if (typeof v?.k !== 'string') throw new Error('a staged line without a key');
  return v;
}
