import type { Profile, ProfileQuery } from '../api/types.js';

/** What happened to one user: written and counted, never thrown. */
export type UserOutcome =
  | { status: 'ok' | 'no_recs'; profile: Profile; attempts: number }
  | { status: 'unknown_user'; attempts: number }
  | { status: 'failed'; reason: string; httpStatus: number | null; attempts: number };

export type RowStatus = 'ok' | 'no_recs' | 'unknown_user';

/** `no_recs` when recommendations were asked and none came back (null or empty). */
export function statusOf(profile: Profile, query: ProfileQuery): 'ok' | 'no_recs' {
  if (query.recIds.length === 0) return 'ok';
  return profile.recommendations && profile.recommendations.length > 0 ? 'ok' : 'no_recs';
}
