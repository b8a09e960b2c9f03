import { stringify } from 'csv-stringify/sync';
import type { Profile, ProfileQuery, Recommendation } from '../../api/types.js';
import type { RowStatus } from '../../pipeline/outcome.js';
import type { Formatted } from '../../pipeline/writer.js';
import type { UserRow } from '../../sources/csv.js';
import { underControl } from '../control.js';
import { FETCHED_AT_MARK } from '../fetched-at.js';
import type { ControlMode } from '../options.js';
import type { Passthrough } from '../passthrough.js';
import { columnPart, type Preset, type PresetKey } from './presets.js';

export interface WideLayout {
  preset: Preset;
  key: PresetKey;
  /** Index of the email column in the input header (key `email`). */
  emailAt: number;
  query: ProfileQuery;
  maxItems: number;
  escapeFormulas: boolean;
  pass: Passthrough;
  control: ControlMode;
  /** --state: a `fetched_at` column before `profile_status`. */
  fetchedAt?: boolean | undefined;
}

/**
 * A preset's row: one per user (the tools import profile updates keyed by the identifier, so
 * two rows would overwrite each other), each requested rec as its own columns:
 *
 * `<id>[,passthrough...]` then for each rec id r (as `columnPart(r)`):
 * `rec_<r>_is_control,rec_<r>_source,rec_<r>_updated_at,rec_<r>_count,rec_<r>_1..N`,
 * then `propensity_<p>...`, `cohort_ids` (joined with `;`: a string, not an array), and
 * `profile_status` (`ok`, `no_recs`, `unknown_user`; `status` alone is a Marketing Cloud
 * subscriber attribute).
 *
 * Every cell is a string, a number, `true`/`false`, a date in the preset's format, or empty:
 * no arrays, no JSON. `rec_<r>_count` is always written (0 when there are no items: the rec
 * is missing, the user unknown, or a blanked control rec), because Braze does not overwrite
 * an attribute with a blank cell: a template keys on the count, not on empty item cells.
 */
export class PresetRows {
  private readonly options: { escape_formulas: boolean };

  constructor(private readonly o: WideLayout) {
    this.options = { escape_formulas: o.escapeFormulas };
  }

  /** The identifier column's header. */
  get idHeader(): string {
    return this.o.preset.keys[this.o.key]!;
  }

  header(): string {
    const q = this.o.query;
    const cols = [this.idHeader, ...this.o.pass.headers];
    for (const id of q.recIds) {
      const r = `rec_${columnPart(id)}`;
      cols.push(`${r}_is_control`, `${r}_source`, `${r}_updated_at`, `${r}_count`);
      for (let i = 1; i <= this.o.maxItems; i++) cols.push(`${r}_${i}`);
    }
    for (const id of q.predictionIds) cols.push(`propensity_${columnPart(id)}`);
    if (q.cohortIds) cols.push('cohort_ids');
    if (this.o.fetchedAt) cols.push('fetched_at');
    cols.push('profile_status');
    return stringify([cols]);
  }

  /**
   * `--control drop`: the row goes when every rec the user got is a control rec (nothing but
   * the baseline to show); when only some are, those are blanked, since one row cannot be half
   * left out.
   */
  format(row: UserRow, status: RowStatus, profile: Profile | null): Formatted {
    const q = this.o.query;
    const found = q.recIds.map((id) => profile?.recommendations?.find((r) => r.rec_id === id));
    const got = found.filter((r) => r !== undefined);
    const drop = this.o.control === 'drop';
    if (drop && got.length > 0 && got.every((r) => underControl(r, 'drop') === null)) return { text: '', rows: 0, dropped: 1 };

    const cells = [this.identifier(row), ...this.o.pass.cells(row)];
    for (const rec of found) cells.push(...this.recCells(rec && underControl(rec, drop ? 'blank' : this.o.control)));
    for (const id of q.predictionIds) {
      const p = profile?.propensities?.find((x) => x.pred_id === id);
      cells.push(p?.prop === null || p?.prop === undefined ? '' : plainNumber(p.prop));
    }
    if (q.cohortIds) cells.push(profile?.cohort_ids?.join(';') ?? '');
    if (this.o.fetchedAt) cells.push(status === 'not_fetched' ? '' : FETCHED_AT_MARK);
    cells.push(status);
    const text = stringify([cells], this.options);
    return drop ? { text, rows: 1, dropped: 0 } : { text, rows: 1 };
  }

  private identifier(row: UserRow): string {
    return this.o.key === 'user_id' ? row.user_id : (row.fields[this.o.emailAt] ?? '').trim();
  }

  private recCells(rec: Recommendation | null | undefined): string[] {
    const n = this.o.maxItems;
    if (!rec) return ['', '', '', '0', ...new Array<string>(n).fill('')];
    const items = rec.items.slice(0, n);
    const cells = [
      rec.is_control === null ? '' : String(rec.is_control),
      rec.recommendation_source ?? '',
      rec.last_updated === null ? '' : this.o.preset.date(rec.last_updated),
      String(items.length),
    ];
    for (let i = 0; i < n; i++) cells.push(items[i] ?? '');
    return cells;
  }
}

/** 1e-7 -> `0.0000001`: the tools read a plain decimal ("no spaces or commas"), not an exponent. */
export function plainNumber(v: number): string {
  const s = String(v);
  if (!/e/i.test(s) || !Number.isFinite(v) || Math.abs(v) >= 1e21) return s;
  return v.toFixed(20).replace(/0+$/, '').replace(/\.$/, '');
}
