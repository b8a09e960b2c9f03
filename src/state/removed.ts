import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/**
 * The row of a user who left the audience, in the output's layout (README "Incremental
 * exports"): the ids filled, every other cell empty, `status` / `profile_status` = `removed`,
 * and a preset's `rec_<r>_count` = 0, so a template keyed on the count falls back to its
 * baseline (Braze does not overwrite an attribute with a blank cell). Pure.
 */
export interface RemovedLayout {
  format: 'csv' | 'jsonl';
  /** CSV: the output's header line. */
  header: string;
  /** Leading id columns copied from the stored row: 2 (user_id, device_id), 1 for a preset's identifier. */
  idColumns: number;
  escapeFormulas: boolean;
}

/** The removed file's layout for this job: `header` is the output's header line. */
export function removedLayout(cfg: { format: 'csv' | 'jsonl'; escapeFormulas: boolean; esp: { preset: unknown; key: unknown } }, header: string): RemovedLayout {
  return { format: cfg.format, header, idColumns: cfg.esp.preset && cfg.esp.key ? 1 : 2, escapeFormulas: cfg.escapeFormulas };
}

export function removedRow(layout: RemovedLayout, key: string, storedRows: string): string {
  return layout.format === 'jsonl' ? removedJson(key, storedRows) : removedCsv(layout, key, storedRows);
}

/** The ids from the key, when the state holds no row for the user (`--control drop` left none). */
function idsOfKey(key: string): { user_id: string; device_id: string } {
  const id = key.slice(2);
  return key.startsWith('u:') ? { user_id: id, device_id: '' } : { user_id: '', device_id: id };
}

function removedCsv(layout: RemovedLayout, key: string, storedRows: string): string {
  const columns = (parse(layout.header) as string[][])[0] ?? [];
  const first = storedRows ? ((parse(storedRows, { relax_column_count: true }) as string[][])[0] ?? []) : null;
  const fromKey = idsOfKey(key);
  const cells = columns.map((name, i) => {
    if (i < layout.idColumns) return first ? (first[i] ?? '') : i === 0 ? fromKey.user_id : fromKey.device_id;
    if (name === 'status' || name === 'profile_status') return 'removed';
    if (/^rec_.*_count$/.test(name)) return '0';
    return '';
  });
  return stringify([cells], { escape_formulas: layout.escapeFormulas });
}

function removedJson(key: string, storedRows: string): string {
  const line = storedRows.split('\n', 1)[0];
  const stored = line ? (JSON.parse(line) as Record<string, unknown>) : { ...idsOfKey(key), status: null };
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(stored)) {
    out[k] = k === 'user_id' || k === 'device_id' ? (stored[k] === '' ? null : stored[k]) : k === 'status' ? 'removed' : null;
  }
  return `${JSON.stringify(out)}\n`;
}
