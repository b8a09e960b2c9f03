import type { UserOutcome } from '../pipeline/outcome.js';
import { type RefreshCounts, type RefreshSplit, splitRefresh } from '../budget.js';
import type Database from 'better-sqlite3';
import { StoppedEarly } from '../errors.js';
import { killPoint } from './apply.js';
import { bulkInsert } from './bulk.js';
import { endReader, holdReader, type StateDb } from './db.js';
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
  /**
   * The state's content hash of a user `decide` sent to be asked, read with the plan (null: the
   * state has none); undefined for any other key. Taken in the order the users were decided:
   * users decided before this one (written since, or failed) are forgotten.
   */
  takeHash(key: string): Buffer | null | undefined;
}

export interface RefreshOptions {
  /** Users the budget plans to refresh (the reserve for retries set aside); null: no budget. */
  planned: number | null;
  /** Users fetched after this (epoch ms) are carried (--max-age); null: no such limit. */
  freshAfter: number | null;
  /** --reset-state: the state counts as empty; nobody is carried from it. */
  reset: boolean;
  /** A dry run only counts: the run's sequence (the carried rows in input order) is not built. */
  countOnly?: boolean;
  /**
   * A stop signal (SIGTERM, SIGINT): the plan ends with PlanStopped as soon as it sees it, while
   * reading the input or between its SQL steps (a step itself runs to its end: about 2 s at a
   * million users, the longest).
   */
  stop?: AbortSignal | undefined;
}

/** The plan was left unfinished on a stop signal: nothing was requested, nothing written. */
export class PlanStopped extends StoppedEarly {
  constructor(readonly usersRead: number) {
    super(`stopped while planning, after reading ${usersRead} users of the input`);
  }
}

type Row = { user_id: string; device_id: string; line: number };
/** One row of tonight's sequence: a user at its first line; `ask` 1 when it is asked there. */
type SeqRow = [line: number, ask: number, fetchedAt: number | null, rows: string | null, hash: Buffer | null];

/**
 * Plans the night in the state's own SQLite file (temporary tables beside `users`, on disk:
 * the heap holds no per-user structure at a million users). A pure function of the input, the
 * state and the options: a rerun after a kill plans the same users. Never-fetched users go
 * first, in input order; then the least recently fetched, ties in input order (a user's place in
 * that order is its first line). A user id twice in the input is asked once, at its last line:
 * an email tool that upserts by id keeps the last row it reads, so that is the fresh one; the
 * earlier lines get what the state holds.
 *
 * Every step runs in SQLite over whole tables, never a look-up per user in input order (a
 * million random reads in a state larger than SQLite's cache took 22 µs each): the input's
 * keys are sorted once and joined with the state in key order, and what the run needs per
 * user, its carried rows included, is sorted once into input order by a query that `decide`
 * then reads in step with the run, a row at a time, straight from SQLite's sorter.
 */
export async function planRefresh(state: Pick<StateDb, 'db'>, users: AsyncIterable<Row[]>, o: RefreshOptions): Promise<RefreshPlan> {
  const db = state.db;
  endReader(db);
  // Keys are appended as read, then sorted once into the keyed table: inserting a million keys
  // in input (random) order into a B-tree cost ~8 s more than this (bench/refresh.ts).
  db.pragma(`temp.cache_size = -${16 * 1024}`);
  // SQLite's sorts take their memory from the main database's cache size: at 16 MiB the plan's
  // sorts made a night's peak RSS (201 to 204 MB at a million users, 184 to 187 at 8 MiB, the
  // plan no slower over five interleaved pairs). The run reads the state itself only for a user
  // listed twice.
  db.pragma(`main.cache_size = -${8 * 1024}`);
  db.exec(`DROP TABLE IF EXISTS temp.read; DROP TABLE IF EXISTS temp.night;
    CREATE TEMP TABLE read (key TEXT NOT NULL, line INTEGER NOT NULL)`);
  const read = bulkInsert(db, 'temp.read', ['key', 'line']);
  let usersRead = 0;
  // A signal is handled between event-loop turns: the read's own (a chunk of the input at a
  // time), and one given between the SQL steps, each of which runs whole.
  const stopped = async () => {
    if (!o.stop) return;
    await new Promise((r) => setImmediate(r));
    if (o.stop.aborted) throw new PlanStopped(usersRead);
  };
  // One transaction for the whole read (nothing else uses the connection meanwhile): each key
  // goes to SQLite as it comes, a hundred a statement, and none waits in the heap (batches of
  // 10,000 held there survived the young generation's collections: 0.9 s of GC at a million).
  db.exec('BEGIN');
  try {
    for await (const batch of users) {
      if (o.stop?.aborted) throw new PlanStopped(usersRead);
      if (usersRead === 0) killPoint('plan-read');
      for (const u of batch) {
        const k = identityKey(u);
        if (k !== '') read.add(k, u.line);
      }
      usersRead += batch.length;
    }
    read.flush();
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
  // Per user: line, where it first appears (its place in the order); at, its last line (where
  // it is asked); fetched_at, null when the state never fetched it (or counts as empty).
  const fetchedAt = o.reset ? 'NULL' : '(SELECT u.fetched_at FROM main.users u WHERE u.key = g.key)';
  db.exec(`CREATE TEMP TABLE night (key TEXT PRIMARY KEY, line INTEGER NOT NULL, at INTEGER NOT NULL, fetched_at INTEGER) WITHOUT ROWID;
    INSERT INTO temp.night (key, line, at, fetched_at)
      SELECT g.key, g.line, g.at, ${fetchedAt} FROM (SELECT key, min(line) AS line, max(line) AS at FROM temp.read GROUP BY key) g ORDER BY g.key;
    DROP TABLE temp.read;`);
  killPoint('plan-sorted');
  await stopped();

  const cutoff = o.freshAfter ?? Number.MAX_SAFE_INTEGER;
  const [users_, never, stale] = db.prepare('SELECT count(*), coalesce(sum(fetched_at IS NULL), 0), coalesce(sum(fetched_at <= ?), 0) FROM temp.night').raw().get(cutoff) as [number, number, number];
  const counts: RefreshCounts = { users: users_, never, stale };
  const split = splitRefresh(counts, o.planned);
  // Who is refreshed, as one expression over the night table: never-fetched users up to the
  // split.never-th by line, then stale ones up to the split.stale-th by (fetch time, line).
  // (An UPDATE of the chosen keys was 100,000 random writes into it: about 1 s.)
  const nth = (sql: string, n: number, ...p: unknown[]) => (n === 0 ? undefined : (db.prepare(sql).raw().get(...p, n - 1) as number[]));
  const lastNever = nth('SELECT line FROM temp.night WHERE fetched_at IS NULL ORDER BY line LIMIT 1 OFFSET ?', split.never);
  const lastStale = nth('SELECT fetched_at, line FROM temp.night WHERE fetched_at <= ? ORDER BY fetched_at, line LIMIT 1 OFFSET ?', split.stale, cutoff);
  const int = (v: number | undefined) => String(Math.trunc(Number(v)));
  const REFRESH = `((n.fetched_at IS NULL AND ${lastNever ? `n.line <= ${int(lastNever[0])}` : '0'}) OR (n.fetched_at IS NOT NULL AND ${
    lastStale ? `(n.fetched_at < ${int(lastStale[0])} OR (n.fetched_at = ${int(lastStale[0])} AND n.line <= ${int(lastStale[1])}))` : '0'
  }))`;
  const oldestCarried = db.prepare(`SELECT min(n.fetched_at) FROM temp.night n WHERE NOT ${REFRESH}`).pluck().get() as number | null;
  await stopped();
  const night = db.prepare<[string], { at: number; refresh: number; fetched_at: number | null; rows: string | null }>(
    `SELECT n.at, ${REFRESH} AS refresh, u.fetched_at, u.rows FROM temp.night n LEFT JOIN main.users u ON u.key = n.key WHERE n.key = ?`,
  );
  const stored = db.prepare<[string], { fetched_at: number; rows: string }>('SELECT fetched_at, rows FROM main.users WHERE key = ?');
  const carriedOr = (fetched: number | null | undefined, rows: string | null | undefined): UserOutcome =>
    !o.reset && rows != null && fetched != null ? { status: 'carried', rows, fetchedAt: fetched } : { status: 'not_fetched' };
  /** Any line, in any order: two look-ups (a later line of a user listed twice, a test). */
  const lookUp = (row: Row): 'refresh' | UserOutcome => {
    const r = night.get(identityKey(row));
    if (r && r.refresh === 1 && r.at === row.line) return 'refresh';
    return carriedOr(r?.fetched_at, r?.rows);
  };
  // Input order: the state's rows are read in key order (the state's own order) and sorted
  // once by line, instead of a random read per user. The run reads the sort's output as it
  // goes: written to a table and read back, the same rows cost 0.7 s more at a million users,
  // and twice the temporary space. Its first row is read now, so the sort runs in the plan.
  // --reset-state carries nothing: no row is read from the state.
  // A user asked there gets its content hash instead (the run compares tonight's rows with it).
  // The other statements are prepared first: better-sqlite3 prepares none while a query is read.
  const ASK = `(${REFRESH} AND n.at = n.line)`;
  const fromState = o.reset
    ? 'NULL, NULL, NULL FROM temp.night n'
    : `iif(${ASK}, NULL, u.fetched_at), iif(${ASK}, NULL, u.rows), iif(${ASK}, u.hash, NULL) FROM temp.night n LEFT JOIN main.users u ON u.key = n.key`;
  const seq = o.countOnly ? () => undefined : inStep(db, db.prepare<[], SeqRow>(`SELECT n.line, ${ASK}, ${fromState} ORDER BY n.line`).raw().iterate());
  await stopped();

  // The hashes of users sent to be asked and not yet written: at most those in flight.
  const hashes = new Map<string, Buffer | null>();
  return {
    counts,
    split,
    oldestCarried,
    decide(row) {
      const s = seq(row.line);
      if (!s) return lookUp(row);
      if (s[1] !== 1) return carriedOr(s[2], s[3]);
      hashes.set(identityKey(row), s[4]);
      return 'refresh';
    },
    takeHash(key) {
      const h = hashes.get(key);
      if (h === undefined) return undefined;
      for (const k of hashes.keys()) {
        hashes.delete(k);
        if (k === key) break;
      }
      return h;
    },
    fallback: (row) => {
      const r = stored.get(identityKey(row));
      return carriedOr(r?.fetched_at, r?.rows);
    },
  };
}

/**
 * Reads tonight's sequence in step with lines asked in increasing order: the row at `line`, or
 * undefined when it holds none there (a later line of a user listed twice) or `line` went
 * backwards. Reads the first row at once; the query stays open until read to its end or ended
 * (db.ts endReader: before the state is written or closed).
 */
function inStep(db: Database.Database, rows: IterableIterator<SeqRow>): (line: number) => SeqRow | undefined {
  holdReader(db, () => rows.return?.());
  const next = () => {
    const r = rows.next();
    return r.done ? undefined : r.value;
  };
  let head = next();
  let after = 0;
  return (line) => {
    if (line <= after) return undefined;
    while (head !== undefined && head[0] < line) head = next();
    if (head === undefined || head[0] !== line) return undefined;
    const r = head;
    head = next();
    after = line;
    return r;
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
