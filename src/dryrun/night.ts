import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { nightsForFullRefresh, plannedUsers } from '../budget.js';
import { needS3, type S3Access } from '../aws/s3client.js';
import { isS3Url, parseS3Url } from '../aws/s3url.js';
import type { ExportConfig } from '../config.js';
import { describe, ExitError } from '../errors.js';
import type { OutputLayout } from '../output/layout.js';
import type { OpenedInput } from '../sources/open.js';
import { planRefresh } from '../state/refresh.js';
import { plannedUsers as usersOf } from '../wiring/night.js';
import { runTempDir } from '../temp-dirs.js';

/** What a planned night would do (--refresh-budget/--max-age), for the dry run's report. */
export interface NightReport {
  users: number;
  refresh: number;
  neverFetched: number;
  leastRecent: number;
  carried: number;
  notFetched: number;
  /** Fetch time (epoch ms) of the oldest data the output would hold; null when nothing is carried. */
  oldestCarried: number | null;
  /** Users a night at this budget refreshes; null without a budget. */
  perNight: number | null;
  /** Nights for every user to be refreshed once at this budget; null without one. */
  nightsForAll: number | null;
}

/**
 * Plans tonight as the run would, reading the state without taking it: opened read-only (an
 * s3:// state fetched to a temporary file), or none yet (every user never fetched). The plan
 * lives in a temporary table of that connection; nothing is written.
 */
export async function dryRunNight(cfg: ExportConfig, input: Pick<OpenedInput, 'stream' | 'name'>, layout: OutputLayout, s3: S3Access | undefined, now = Date.now()): Promise<NightReport | null> {
  const st = cfg.state;
  if (!st || (st.budget === null && st.maxAgeMs === null)) return null;
  const dir = await runTempDir('dry-state');
  let db: Database.Database | undefined;
  try {
    let path = st.path;
    if (isS3Url(path)) {
      const loc = parseS3Url(path);
      if (typeof loc === 'string') throw new ExitError('usage', `--state ${path}: ${loc}`);
      path = join(dir.path, 'state.sqlite');
      if ((await (await import('../state/s3.js')).fetchState(needS3(s3), loc, path)) === null) path = '';
    }
    try {
      db = path && existsSync(path) ? new Database(path, { readonly: true, fileMustExist: true, timeout: 0 }) : emptyState();
      db.pragma('temp_store = FILE');
    } catch (err) {
      throw new ExitError('checkpoint', `state ${st.path} cannot be read for the dry run (${describe(err)}); a run holding it locks it until it ends`);
    }
    const plan = await planRefresh({ db }, usersOf(cfg, input, layout), {
      planned: st.budget === null ? null : plannedUsers(st.budget),
      freshAfter: st.maxAgeMs === null ? null : now - st.maxAgeMs,
      reset: st.reset,
      countOnly: true,
    });
    const s = plan.split;
    const perNight = st.budget === null ? null : plannedUsers(st.budget);
    return {
      users: plan.counts.users,
      refresh: s.never + s.stale,
      neverFetched: s.never,
      leastRecent: s.stale,
      carried: s.carried,
      notFetched: s.notFetched,
      oldestCarried: plan.oldestCarried,
      perNight,
      nightsForAll: perNight === null ? null : nightsForFullRefresh(plan.counts.users, perNight),
    };
  } finally {
    db?.close();
    await dir.remove();
  }
}

/** A state with no users yet: what a first night plans against. */
function emptyState(): Database.Database {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE users (key TEXT PRIMARY KEY, hash BLOB NOT NULL, fetched_at INTEGER NOT NULL, rows TEXT NOT NULL) WITHOUT ROWID');
  return db;
}
