import Database from 'better-sqlite3';

/** What a state file holds per user, as a test compares it (fetch times left out: they differ between runs). */
export function stateRows(path: string): Array<{ key: string; hash: string; rows: string }> {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT key, hex(hash) AS hash, rows FROM users ORDER BY key').all() as Array<{ key: string; hash: string; rows: string }>;
  } finally {
    db.close();
  }
}

export function stateMeta(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true });
  try {
    return Object.fromEntries((db.prepare('SELECT k, v FROM meta').all() as Array<{ k: string; v: string }>).map((r) => [r.k, r.v]));
  } finally {
    db.close();
  }
}

/** Users `from` to `to - 1` as a users CSV (ids `user-N`, served with `synthetic: true`). */
export function usersCsv(from: number, to: number): string {
  const lines = ['user_id,device_id'];
  for (let i = from; i < to; i++) lines.push(`user-${i},`);
  return `${lines.join('\n')}\n`;
}

const TIME_BEFORE_STATUS = /,(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ),(\w+)$/gm;

/** With --state every CSV row says when it was fetched (its run's time): blanked to compare two runs' rows. */
export const untimed = (csv: string) => csv.replace(TIME_BEFORE_STATUS, ',T,$2');

/** The distinct fetched_at times of a CSV output's rows. */
export const fetchTimes = (csv: string) => [...new Set([...csv.matchAll(TIME_BEFORE_STATUS)].map((m) => m[1]!))].sort();

/** A --state output as it would be without --state: the fetched_at column taken out. */
export const withoutFetchedAt = (csv: string) => csv.replace(/,fetched_at,(\w+)$/m, ',$1').replace(TIME_BEFORE_STATUS, ',$2');
