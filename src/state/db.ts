import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { describe, ExitError } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { layoutDifferences, type StateLayout } from './layout.js';

/** `APE1` in the database header: what makes a SQLite file this tool's state. */
export const APPLICATION_ID = 0x41504531;
/** The schema's version (PRAGMA user_version); a state with a higher one was written by a newer release. */
export const STATE_VERSION = 1;
/** SQLite's page cache, in KiB: bounds the memory a million-user state needs. */
const CACHE_KIB = 16 * 1024;

const refused = (msg: string) => new ExitError('checkpoint', msg);

/**
 * A query still being read on a connection (a planned night's sequence, read in step with the
 * run). better-sqlite3 refuses to write, prepare or close while one is open: endReader ends it
 * first.
 */
const readers = new WeakMap<Database.Database, () => void>();

/** `end` ends the query being read on `db` (one at a time: a previous one is ended now). */
export function holdReader(db: Database.Database, end: () => void): void {
  endReader(db);
  readers.set(db, end);
}

/** Ends the query being read on `db`, if any: before the connection is written or closed. */
export function endReader(db: Database.Database): void {
  const end = readers.get(db);
  readers.delete(db);
  end?.();
}

export interface StateMeta {
  layout: StateLayout | null;
  /** The run whose results the state holds; null before the first completed run. */
  lastRun: string | null;
}

/**
 * A state file (README "Incremental exports"): one SQLite database, per user its identity key,
 * content hash, fetch time and rendered rows. Opened for the whole run with SQLite's exclusive
 * locking mode: the write lock it takes at once is an fcntl lock, which the kernel drops when
 * the process dies, so a second run on the same file is refused and a killed one leaves no
 * lock behind.
 */
export class StateDb {
  private readonly lookup: Database.Statement<[string], Buffer>;

  private constructor(
    readonly path: string,
    readonly db: Database.Database,
    readonly meta: StateMeta,
  ) {
    this.lookup = db.prepare<[string], Buffer>('SELECT hash FROM users WHERE key = ?').pluck();
  }

  /**
   * Opens (creates on first use) and locks the state. Refused with exit 2, nothing written:
   * not this tool's SQLite, corrupt, a newer version's, locked by another run, or a directory
   * that cannot be written.
   */
  static async open(path: string): Promise<StateDb> {
    const dir = dirname(path);
    const exists = await stat(path).then((s) => s.size > 0, () => false);
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    } catch (err) {
      throw new ExitError('output', `state ${path}: its directory cannot be written (${describe(err)})`);
    }
    if (exists) await access(path, constants.R_OK | constants.W_OK).catch((err: unknown) => Promise.reject(new ExitError('output', `state ${path}: cannot be read and written (${describe(err)})`)));
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: 0 });
    } catch (err) {
      throw new ExitError('output', `state ${path}: cannot open it (${describe(err)})`);
    }
    try {
      return new StateDb(path, db, exists ? checkExisting(db, path) : create(db));
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** The content hash the state holds for `key`; undefined when it holds none. */
  hashOf(key: string): Buffer | undefined {
    return this.lookup.get(key);
  }

  /** The layout is the state's, or the state has no completed run yet; else refused naming what differs. */
  checkLayout(now: StateLayout): void {
    const saved = this.meta.layout;
    if (!saved || this.meta.lastRun === null) return;
    if (saved.fetchedAt !== now.fetchedAt) {
      throw refused(`state ${this.path} was written by an earlier release, whose rows have no fetched_at cell: add --reset-state once to rebuild it (every user counts as new that night: with --delta the whole audience is written)`);
    }
    const diff = layoutDifferences(saved, now);
    if (diff.length > 0) {
      throw refused(`state ${this.path} holds rows of another layout: ${diff.join('; ')}. Use the options it was built with, or add --reset-state to start it over`);
    }
  }

  /** Users in the state. */
  count(): number {
    return this.db.prepare('SELECT count(*) FROM users').pluck().get() as number;
  }

  close(): void {
    endReader(this.db);
    if (this.db.open) this.db.close();
  }
}

function create(db: Database.Database): StateMeta {
  try {
    prepare(db);
    db.exec(`BEGIN EXCLUSIVE;
      PRAGMA application_id = ${APPLICATION_ID};
      PRAGMA user_version = ${STATE_VERSION};
      CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
      CREATE TABLE users (key TEXT PRIMARY KEY, hash BLOB NOT NULL, fetched_at INTEGER NOT NULL, rows TEXT NOT NULL) WITHOUT ROWID;
      COMMIT;`);
    db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run('created_by', TOOL_VERSION);
  } catch (err) {
    throw busyOr(err, db.name, 'cannot create it');
  }
  return { layout: null, lastRun: null };
}

function checkExisting(db: Database.Database, path: string): StateMeta {
  let appId: number;
  let version: number;
  try {
    prepare(db);
    appId = db.pragma('application_id', { simple: true }) as number;
    version = db.pragma('user_version', { simple: true }) as number;
  } catch (err) {
    throw busyOr(err, path, 'not a SQLite database, or a corrupt one');
  }
  if (appId !== APPLICATION_ID) throw refused(`state ${path} is not a state file of amp-profile-export (a SQLite database of something else); point --state at a new path`);
  if (version > STATE_VERSION) throw refused(`state ${path} was written by a newer version of amp-profile-export (state version ${version}, this one reads ${STATE_VERSION}); run the newer version`);
  try {
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw new Error(String(check));
    // Takes the write lock now and keeps it (exclusive locking mode) until the run ends.
    db.exec('BEGIN EXCLUSIVE; COMMIT;');
    const rows = db.prepare('SELECT k, v FROM meta').all() as Array<{ k: string; v: string }>;
    const m = new Map(rows.map((r) => [r.k, r.v]));
    return { layout: m.has('layout') ? (JSON.parse(m.get('layout')!) as StateLayout) : null, lastRun: m.get('last_run') ?? null };
  } catch (err) {
    throw busyOr(err, path, 'corrupt');
  }
}

function prepare(db: Database.Database): void {
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma(`cache_size = -${CACHE_KIB}`);
  // Temporary tables (the run's seen keys) on disk, not in the heap.
  db.pragma('temp_store = FILE');
}

/**
 * SQLite could not write the state or its temporary files mid-run (a full disk, an I/O error):
 * exit 5 with one line naming both places and what to do; any other error as it is. A planned
 * night's sorts and the final update's tables live in SQLite's temporary directory, which a
 * pod's small /tmp may not hold (README "Sizing the disk").
 */
export function sqliteWriteError(err: unknown, what: string, path: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !(code.startsWith('SQLITE_FULL') || code.startsWith('SQLITE_IOERR'))) return err;
  const temp = process.env['SQLITE_TMPDIR'] || process.env['TMPDIR'] || '/var/tmp, else /tmp';
  return new ExitError(
    'storage',
    `${what}: ${describe(err)}, in ${path} or in SQLite's temporary directory (${temp}); what was checkpointed is kept: make room (or set SQLITE_TMPDIR to a larger disk) and rerun the same command`,
  );
}

function busyOr(err: unknown, path: string, what: string): ExitError {
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return refused(`state ${path} is in use by another run (locked); one run at a time per state`);
  }
  return refused(`state ${path} cannot be used: ${what} (${describe(err)}); restore it, or point --state at a new path and add --reset-state`);
}
