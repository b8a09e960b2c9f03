import type Database from 'better-sqlite3';
import { bulkInsert } from './bulk.js';
import { endReader, type StateDb } from './db.js';
import { parseStaged } from './delta.js';
import type { StateLayout } from './layout.js';

/** A user leaving the state: its key and the rows it held (its ids are read from them). */
export interface Leaving {
  key: string;
  rows: string;
}

export interface ApplyRun {
  run: string;
  layout: StateLayout;
  /** --reset-state: the state's old users go without being reported. */
  reset: boolean;
  /** The staging file's lines, in input order. */
  staged: AsyncIterable<string>;
  /**
   * A temporary table whose `key`s are present tonight besides the staged ones: a planned
   * night's users (temp.night), whose carried users are not staged.
   */
  present?: string | undefined;
  /** Called inside the transaction, before it commits, with the users leaving (ordered by key). */
  leaving: (users: Iterable<Leaving>) => Promise<void>;
}

/** SQLite's page cache during the update, in KiB (the main database; half that for temporary tables). */
const UPDATE_CACHE_KIB = 4096;

/** Staged lines per batch between yields to the event loop (the staging file is read as a stream). */
const BATCH = 5000;

/** A staged line with new rows; the others only touch (a fetch time) or keep the user. */
const HAS_ROWS = 'r IS NOT NULL AND h IS NOT NULL';

/**
 * Moves the state on to a completed run's results in one SQLite transaction: a kill at any
 * instant leaves the state as it was before (SQLite's rollback journal) or as after, never
 * between. Staged users are upserted (new or changed rows), touched (unchanged: fetch time) or
 * kept (failed); users neither staged nor `present` leave the state, after `leaving` has
 * written them out. Returns how many left.
 *
 * The staged lines are appended to a temporary table in the order they come, then applied in
 * key order, the state's own: a user staged twice (listed twice in the input) ends as its last
 * line left it, as if the lines were applied one by one. A row at a time in input order, this
 * was a random write per user in a state larger than SQLite's cache (about 8 s for 1,000,000
 * users, most of them only kept).
 */
export async function applyRun(state: StateDb, a: ApplyRun): Promise<number> {
  const db = state.db;
  // The plan's sequence, read by the run, is done with.
  endReader(db);
  // The update walks the state once, in key order: a small cache does (the B-tree's interior
  // pages are about 2 MB at a million users), and SQLite's sorts take their memory from it.
  // With the run's 16 MiB caches this step made a run's peak RSS (192 to 194 MB against 177 to
  // 179 for 100,000 users, the update no slower at 1,000,000).
  db.pragma(`main.cache_size = -${UPDATE_CACHE_KIB}`);
  db.pragma(`temp.cache_size = -${UPDATE_CACHE_KIB / 2}`);
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(`DROP TABLE IF EXISTS temp.staged; DROP TABLE IF EXISTS temp.seen; DROP TABLE IF EXISTS temp.gone;
      CREATE TEMP TABLE staged (k TEXT NOT NULL, h BLOB, t INTEGER, r TEXT)`);
    const staged = bulkInsert(db, 'temp.staged', ['k', 'h', 't', 'r']);
    let n = 0;
    for await (const line of a.staged) {
      const s = parseStaged(line);
      staged.add(s.k, s.h === undefined ? null : Buffer.from(s.h, 'base64'), s.t ?? null, s.r ?? null);
      if (++n % BATCH === 0) await new Promise((r) => setImmediate(r));
    }
    staged.flush();
    if (a.reset) db.exec('DELETE FROM users');
    // New or changed rows: per user, the last staged line with rows.
    db.exec(`INSERT INTO main.users (key, hash, fetched_at, rows)
      SELECT k, h, t, r FROM (SELECT k, h, coalesce(t, 0) AS t, r, row_number() OVER (PARTITION BY k ORDER BY rowid DESC) AS last FROM temp.staged WHERE ${HAS_ROWS}) WHERE last = 1 ORDER BY k
      ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, fetched_at = excluded.fetched_at, rows = excluded.rows`);
    // Unchanged: the fetch time of the user's last line with one, unless that line brought rows.
    db.exec(`UPDATE main.users SET fetched_at = x.t
      FROM (SELECT k, t FROM (SELECT k, t, ${HAS_ROWS} AS brought, row_number() OVER (PARTITION BY k ORDER BY rowid DESC) AS last FROM temp.staged WHERE t IS NOT NULL) WHERE last = 1 AND NOT brought) AS x
      WHERE main.users.key = x.k`);
    // Who leaves, found in one pass over the state in key order (its own): not present, not
    // staged. The present users are looked up where they are, not copied (a million keys), and
    // first: on a planned night nearly every user is, and the look-up in the staged keys is then
    // skipped (1,000,000 users, 100,000 staged: 0.60 s against 0.89 s the other way round).
    const present = a.present ? `NOT EXISTS (SELECT 1 FROM ${a.present} p WHERE p.key = u.key) AND ` : '';
    db.exec(`CREATE TEMP TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID;
      INSERT OR IGNORE INTO temp.seen (key) SELECT k FROM temp.staged ORDER BY k;
      DROP TABLE temp.staged;
      CREATE TEMP TABLE gone (key TEXT PRIMARY KEY) WITHOUT ROWID;
      INSERT INTO temp.gone (key) SELECT u.key FROM main.users u
        WHERE ${present}NOT EXISTS (SELECT 1 FROM temp.seen s WHERE s.key = u.key) ORDER BY u.key;
      DROP TABLE temp.seen;`);
    const gone = db.prepare<[], Leaving>('SELECT g.key, u.rows FROM temp.gone g JOIN main.users u ON u.key = g.key ORDER BY g.key');
    const leaving = gone.iterate();
    try {
      await a.leaving(leaving);
    } finally {
      // Not read to the end (no --removed file): the statement must end before the next one.
      leaving.return?.();
    }
    const removed = db.prepare('DELETE FROM main.users WHERE key IN (SELECT key FROM temp.gone)').run().changes;
    setMeta(db, 'layout', JSON.stringify(a.layout));
    setMeta(db, 'last_run', a.run);
    db.exec('DROP TABLE temp.gone');
    killPoint('state-commit');
    db.exec('COMMIT');
    return removed;
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/**
 * For the kill-safety tests: AMP_PROFILE_EXPORT_KILL_AT=<point> SIGKILLs the process there, so a test
 * can kill it at an exact instant (of the final state update, of the plan) instead of hoping to
 * hit it. AMP_PROFILE_EXPORT_KILL_SIGNAL sends another signal instead (SIGTERM: an operator's stop).
 */
export function killPoint(point: string): void {
  if (process.env.AMP_PROFILE_EXPORT_KILL_AT === point) process.kill(process.pid, (process.env.AMP_PROFILE_EXPORT_KILL_SIGNAL as NodeJS.Signals | undefined) ?? 'SIGKILL');
}

function setMeta(db: Database.Database, k: string, v: string): void {
  db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(k, v);
}
