import type { UserOutcome } from '../pipeline/outcome.js';
import { type RefreshCounts, type RefreshSplit, splitRefresh } from '../budget.js';
import type { StateDb } from './db.js';
import { identityKey } from './delta.js';

/** What a night with --refresh-budget/--max-age does per user, decided before the first request. */
export interface RefreshPlan {
  counts: RefreshCounts;
  split: RefreshSplit;
  /** Oldest fetch time (epoch ms) of a carried user: the oldest data the output will hold; null when none is carried. */
  oldestCarried: number | null;
  /** `refresh`: ask the API tonight. Otherwise the user's outcome: carried from the state, or not fetched. */
  decide(row: { user_id: string; device_id: string; line: number }): 'refresh' | UserOutcome;
  /** A user the budget ran out on: carried, or not fetched when the state never had it. */
  fallback(row: { user_id: string; device_id: string }): UserOutcome;
}

export interface RefreshOptions {
  /** Users the budget plans to refresh (the reserve for retries set aside); null: no budget. */
  planned: number | null;
  /** Users fetched after this (epoch ms) are carried (--max-age); null: no such limit. */
  freshAfter: number | null;
  /** --reset-state: the state counts as empty; nobody is carried from it. */
  reset: boolean;
}

/** Rows inserted per transaction while the input is read. */
const BATCH = 10_000;

/**
 * Plans the night in the state's own SQLite file (a temporary table beside `users`, on disk:
 * the heap holds no per-user structure at a million users). A pure function of the input, the
 * state and the options: a rerun after a kill plans the same users. Never-fetched users go
 * first, in input order; then the least recently fetched, ties in input order (a user's place in
 * that order is its first line). A user id twice in the input is asked once, at its last line:
 * an email tool that upserts by id keeps the last row it reads, so that is the fresh one; the
 * earlier lines get what the state holds.
 */
export async function planRefresh(state: Pick<StateDb, 'db'>, users: AsyncIterable<{ user_id: string; device_id: string; line: number }>, o: RefreshOptions): Promise<RefreshPlan> {
  const db = state.db;
  // Keys are appended as read, then sorted once into the keyed table: inserting a million keys
  // in input (random) order into a B-tree cost ~8 s more than this (bench/refresh.ts).
  db.pragma(`temp.cache_size = -${16 * 1024}`);
  db.exec('DROP TABLE IF EXISTS temp.read; DROP TABLE IF EXISTS temp.night; CREATE TEMP TABLE read (key TEXT NOT NULL, line INTEGER NOT NULL)');
  const add = db.prepare('INSERT INTO temp.read (key, line) VALUES (?, ?)');
  let batch: Array<[string, number]> = [];
  const flush = db.transaction((rows: Array<[string, number]>) => {
    for (const [k, line] of rows) add.run(k, line);
  });
  for await (const u of users) {
    const k = identityKey(u);
    if (k === '') continue;
    batch.push([k, u.line]);
    if (batch.length >= BATCH) {
      flush(batch);
      batch = [];
    }
  }
  flush(batch);
  // line: where the user first appears (its place in the order); at: its last line (where it is asked).
  db.exec(`CREATE TEMP TABLE night (key TEXT PRIMARY KEY, line INTEGER NOT NULL, at INTEGER NOT NULL, refresh INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
    INSERT INTO temp.night (key, line, at) SELECT key, min(line), max(line) FROM temp.read GROUP BY key ORDER BY key;
    DROP TABLE temp.read;`);

  const cutoff = o.freshAfter ?? Number.MAX_SAFE_INTEGER;
  const one = (sql: string, ...p: unknown[]) => db.prepare(sql).pluck().get(...p) as number;
  // --reset-state: every user is never-fetched, and the state's rows are not carried.
  const NEVER = o.reset ? '1' : 'NOT EXISTS (SELECT 1 FROM main.users u WHERE u.key = n.key)';
  const KNOWN = o.reset ? 'AND 0' : '';
  const counts: RefreshCounts = {
    users: one('SELECT count(*) FROM temp.night'),
    never: one(`SELECT count(*) FROM temp.night n WHERE ${NEVER}`),
    stale: one(`SELECT count(*) FROM temp.night n JOIN main.users u ON u.key = n.key WHERE u.fetched_at <= ? ${KNOWN}`, cutoff),
  };
  const split = splitRefresh(counts, o.planned);
  db.transaction(() => {
    db.prepare(`UPDATE temp.night SET refresh = 1 WHERE key IN (SELECT n.key FROM temp.night n WHERE ${NEVER} ORDER BY n.line LIMIT ?)`).run(split.never);
    db.prepare(`UPDATE temp.night SET refresh = 1 WHERE key IN (SELECT n.key FROM temp.night n JOIN main.users u ON u.key = n.key WHERE u.fetched_at <= ? ${KNOWN} ORDER BY u.fetched_at, n.line LIMIT ?)`).run(cutoff, split.stale);
  })();
  const oldestCarried = db.prepare(`SELECT min(u.fetched_at) FROM temp.night n JOIN main.users u ON u.key = n.key WHERE n.refresh = 0 ${KNOWN}`).pluck().get() as number | null;

  const night = db.prepare<[string], { at: number; refresh: number; fetched_at: number | null; rows: string | null }>(
    'SELECT n.at, n.refresh, u.fetched_at, u.rows FROM temp.night n LEFT JOIN main.users u ON u.key = n.key WHERE n.key = ?',
  );
  const stored = db.prepare<[string], { fetched_at: number; rows: string }>('SELECT fetched_at, rows FROM main.users WHERE key = ?');
  const carriedOr = (r: { fetched_at: number | null; rows: string | null } | undefined): UserOutcome =>
    !o.reset && r && r.rows !== null && r.fetched_at !== null ? { status: 'carried', rows: r.rows, fetchedAt: r.fetched_at } : { status: 'not_fetched' };
  return {
    counts,
    split,
    oldestCarried,
    decide(row) {
      const r = night.get(identityKey(row));
      if (r && r.refresh === 1 && r.at === row.line) return 'refresh';
      return carriedOr(r);
    },
    fallback: (row) => carriedOr(stored.get(identityKey(row))),
  };
}

/** A planned night's outcome for a user answered without a request; undefined for a user to ask. */
export function settledBy(plan: Pick<RefreshPlan, 'decide'>): (row: { user_id: string; device_id: string; line: number }) => UserOutcome | undefined {
  return (row) => {
    const d = plan.decide(row);
    return d === 'refresh' ? undefined : d;
  };
}

/** The fetch step of a planned night: a user the budget ran out on is carried from the state, or not fetched. */
export function plannedFetch<R extends { user_id: string; device_id: string; line: number }>(
  plan: Pick<RefreshPlan, 'fallback'>,
  fetchUser: (row: R, signal: AbortSignal) => Promise<UserOutcome>,
): (row: R, signal: AbortSignal) => Promise<UserOutcome> {
  return async (row, signal) => {
    const o = await fetchUser(row, signal);
    return o.status === 'budget_spent' ? plan.fallback(row) : o;
  };
}
