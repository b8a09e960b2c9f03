import type Database from 'better-sqlite3';
import type { StateDb } from './db.js';
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
  /** Called inside the transaction, before it commits, with the users leaving (ordered by key). */
  leaving: (users: Iterable<Leaving>) => Promise<void>;
}

/** Statements per batch between yields to the event loop (the staging file is read as a stream). */
const BATCH = 5000;

/**
 * Moves the state on to a completed run's results in one SQLite transaction: a kill at any
 * instant leaves the state as it was before (SQLite's rollback journal) or as after, never
 * between. Staged users are upserted (new or changed rows), touched (unchanged: fetch time) or
 * kept (failed); users not staged leave the state, after `leaving` has written them out.
 * Returns how many left.
 */
export async function applyRun(state: StateDb, a: ApplyRun): Promise<number> {
  const db = state.db;
  const upsert = db.prepare('INSERT INTO users (key, hash, fetched_at, rows) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, fetched_at = excluded.fetched_at, rows = excluded.rows');
  const touch = db.prepare('UPDATE users SET fetched_at = ? WHERE key = ?');
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec('DROP TABLE IF EXISTS temp.seen; CREATE TEMP TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID');
    const seen = db.prepare('INSERT OR IGNORE INTO temp.seen (key) VALUES (?)');
    if (a.reset) db.exec('DELETE FROM users');
    let n = 0;
    for await (const line of a.staged) {
      const s = parseStaged(line);
      seen.run(s.k);
      if (s.r !== undefined && s.h !== undefined) upsert.run(s.k, Buffer.from(s.h, 'base64'), s.t ?? 0, s.r);
      else if (s.t !== undefined) touch.run(s.t, s.k);
      if (++n % BATCH === 0) await new Promise((r) => setImmediate(r));
    }
    const gone = db.prepare<[], Leaving>('SELECT key, rows FROM users WHERE key NOT IN (SELECT key FROM temp.seen) ORDER BY key');
    const leaving = gone.iterate();
    try {
      await a.leaving(leaving);
    } finally {
      // Not read to the end (no --removed file): the statement must end before the next one.
      leaving.return?.();
    }
    const removed = db.prepare('DELETE FROM users WHERE key NOT IN (SELECT key FROM temp.seen)').run().changes;
    setMeta(db, 'layout', JSON.stringify(a.layout));
    setMeta(db, 'last_run', a.run);
    db.exec('DROP TABLE temp.seen');
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
 * can kill it at an exact instant of the final state update instead of hoping to hit it.
 */
export function killPoint(point: string): void {
  if (process.env.AMP_PROFILE_EXPORT_KILL_AT === point) process.kill(process.pid, 'SIGKILL');
}

function setMeta(db: Database.Database, k: string, v: string): void {
  db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(k, v);
}
