import { parse } from 'csv-parse/sync';

/**
 * The `fetched_at` cell (README "Audiences larger than the quota"): with --state every row says
 * when its data was fetched. Rows are rendered once, with a mark where the time goes: the state
 * stores and hashes them so (a user whose data did not change is unchanged whenever it was
 * fetched), and the mark is replaced by the time on the way out, for a refreshed user and for a
 * carried one alike. NUL delimits the mark: the API's strings would need NUL and these exact
 * letters to meet it. Pure.
 */
export const FETCHED_AT_MARK = '\u0000fetched_at\u0000';

/** The mark as a JSON string value, quotes included: a JSONL row's `"fetched_at":"\u0000…"`. */
const JSON_MARK = JSON.stringify(FETCHED_AT_MARK);

/** ISO 8601 UTC to the second (`2026-12-05T02:00:00Z`): what email tools parse as a date. */
export function isoSecond(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * isoSecond, remembered: a night's rows hold a few fetch times (one per night a user was last
 * fetched), each stamped on up to a million carried rows.
 */
const stamps = new Map<number, string>();
function stampOf(ms: number): string {
  let s = stamps.get(ms);
  if (s === undefined) {
    if (stamps.size >= 4096) stamps.clear();
    s = isoSecond(ms);
    stamps.set(ms, s);
  }
  return s;
}

/** Rendered rows of `format` as the state stores them: stamped on the way out, counted when carried. */
export function storedRows(format: 'csv' | 'jsonl') {
  return {
    stamp: (text: string, at: number | null) => stampRows(text, format, at),
    count: (text: string) => rowCount(text, format),
  };
}

/** Rows in a user's rendered text: one per line, unless a quoted CSV cell holds a line feed. */
export function rowCount(text: string, format: 'csv' | 'jsonl'): number {
  if (text === '') return 0;
  if (format === 'jsonl' || !text.includes('"')) {
    let n = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
    return n;
  }
  return (parse(text, { relax_column_count: true }) as unknown[]).length;
}

/** `text` with its marks replaced by `at` (epoch ms), or left empty (CSV) / null (JSONL) when there is no time. */
export function stampRows(text: string, format: 'csv' | 'jsonl', at: number | null): string {
  if (format === 'jsonl') return text.replaceAll(JSON_MARK, at === null ? 'null' : `"${stampOf(at)}"`);
  return text.replaceAll(FETCHED_AT_MARK, at === null ? '' : stampOf(at));
}
