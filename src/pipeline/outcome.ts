import type { Profile, ProfileQuery } from '../api/types.js';

/** What happened to one user: written and counted, never thrown. */
export type UserOutcome =
  | { status: 'ok' | 'no_recs'; profile: Profile; attempts: number }
  /** --refresh-budget/--max-age: not asked tonight; its rows as the state last stored them (fetched at `fetchedAt`, epoch ms). */
  | { status: 'carried'; rows: string; fetchedAt: number }
  /** --refresh-budget: never fetched, and tonight's budget did not reach it. */
  | { status: 'not_fetched' }
  /** The budget ran out before this user got an answer: the refresh plan carries it or leaves it not fetched. */
  | { status: 'budget_spent'; attempts: number }
  | { status: 'unknown_user'; attempts: number }
  | { status: 'failed'; reason: string; httpStatus: number | null; attempts: number };

export type RowStatus = 'ok' | 'no_recs' | 'unknown_user' | 'not_fetched';

/** `no_recs` when recommendations were asked and none came back (null or empty). */
export function statusOf(profile: Profile, query: ProfileQuery): 'ok' | 'no_recs' {
  if (query.recIds.length === 0) return 'ok';
  return profile.recommendations && profile.recommendations.length > 0 ? 'ok' : 'no_recs';
}
