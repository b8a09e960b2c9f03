/**
 * `--refresh-budget` and `--max-age` (README "Audiences larger than the quota"): the arithmetic,
 * pure. A budget is requests; a duration becomes the requests the rate limit allows in it,
 * divided among the shards that share the limit.
 */

export type BudgetArg = { requests: number } | { ms: number };

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90m`, `6h`, `1d`, `45s` (also `1h30m`): milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d+(\.\d+)?[smhd])+$/.test(t)) return undefined;
  let ms = 0;
  for (const [, n, u] of t.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) ms += Number(n) * UNITS[u!]!;
  return ms > 0 ? Math.round(ms) : undefined;
}

/** A whole number of requests, or a duration; a string naming what is wrong otherwise. */
export function parseBudget(text: string): BudgetArg | string {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) >= 1 ? { requests: Number(t) } : 'expects at least 1 request';
  const ms = parseDuration(t);
  return ms === undefined ? `expects a number of requests (50000) or a duration (90m, 6h), got ${text}` : { ms };
}

/**
 * Requests the budget allows this process: a duration at `limit` per `intervalMs`, shared by
 * `shards` processes (one rate limit for the organisation). Null: a duration with no limit.
 */
export function budgetRequests(b: BudgetArg, rate: { limit: number; intervalMs: number }, shards: number): number | null {
  if ('requests' in b) return b.requests;
  if (rate.limit <= 0) return null;
  return Math.floor((b.ms / rate.intervalMs) * rate.limit / shards);
}

/** Requests kept back for retries: 5 % of a budget of 20 or more, none below (too small to share). */
export function retryReserve(budget: number): number {
  return budget >= 20 ? Math.ceil(budget * 0.05) : 0;
}

/** Users a budget plans to refresh: what is left once the reserve is set aside. */
export function plannedUsers(budget: number): number {
  return budget - retryReserve(budget);
}

export interface RefreshCounts {
  /** Users of the input (distinct keys this process takes). */
  users: number;
  /** Of them, those the state has never fetched. */
  never: number;
  /** Of the others, those old enough to refresh (all of them without --max-age). */
  stale: number;
}

export interface RefreshSplit {
  /** Never-fetched users refreshed tonight (the first ones in input order). */
  never: number;
  /** Stale users refreshed tonight (the least recently fetched). */
  stale: number;
  carried: number;
  notFetched: number;
}

/**
 * Who is refreshed tonight: never-fetched users first, then the least recently fetched of the
 * stale ones, up to `planned` users (null: no budget, everyone eligible).
 */
export function splitRefresh(c: RefreshCounts, planned: number | null): RefreshSplit {
  const cap = planned ?? Number.POSITIVE_INFINITY;
  const never = Math.min(c.never, cap);
  const stale = Math.min(c.stale, cap - never);
  return { never, stale, carried: c.users - c.never - stale, notFetched: c.never - never };
}

/** Nights for every user of the audience to be refreshed once at this many users a night. */
export function nightsForFullRefresh(users: number, perNight: number): number | null {
  if (users === 0) return 0;
  return perNight > 0 ? Math.ceil(users / perNight) : null;
}
