import type { Profile } from '../api/types.js';
import type { RowStatus } from '../pipeline/outcome.js';
import type { UserRow } from '../sources/csv.js';
import type { Formatted } from '../pipeline/writer.js';
import { underControl } from './control.js';
import { FETCHED_AT_MARK } from './fetched-at.js';
import type { ControlMode } from './options.js';
import type { Passthrough } from './passthrough.js';

/** The keys of a JSONL object: a `--passthrough` column may not take one of these names. */
export const JSONL_KEYS = ['user_id', 'device_id', 'fetched_at', 'status', 'recommendations', 'propensities', 'cohort_ids', 'amp_props'] as const;

/**
 * One object per user (README, "Output"): the API's rec objects with `child_rec_id`,
 * items cut to `maxItems` only when it is given; propensities as `{prop, pred_id, prop_type}`
 * whatever shape the API answered in; null where not asked or not known. `--passthrough`
 * columns become string keys after the ids. `--control blank` empties a control rec's items;
 * `--control drop` removes control recs from the list, and leaves out the user's line when
 * every rec it got is a control rec (one line per user, as a preset's row).
 */
export class JsonlRows {
  constructor(
    private readonly maxItems: number | null,
    private readonly o: { pass?: Passthrough | undefined; control?: ControlMode | undefined; fetchedAt?: boolean | undefined } = {},
  ) {}

  header(): string {
    return '';
  }

  format(row: UserRow, status: RowStatus, profile: Profile | null): Formatted {
    const max = this.maxItems;
    const control = this.o.control ?? 'keep';
    const answered = profile?.recommendations ?? null;
    const recs = answered && control !== 'keep' ? answered.flatMap((r) => underControl(r, control) ?? []) : answered;
    if (control === 'drop' && answered && answered.length > 0 && recs!.length === 0) return { text: '', rows: 0, dropped: 1 };
    const pass = this.o.pass;
    const cells = pass && pass.size > 0 ? pass.cells(row) : [];
    const passed = Object.fromEntries(cells.map((c, i) => [pass!.headers[i], c]));
    const text =
      JSON.stringify({
        user_id: row.user_id || null,
        device_id: row.device_id || null,
        ...passed,
        ...(this.o.fetchedAt ? { fetched_at: status === 'not_fetched' ? null : FETCHED_AT_MARK } : {}),
        status,
        recommendations: recs && max !== null ? recs.map((r) => ({ ...r, items: r.items.slice(0, max) })) : recs,
        propensities: profile?.propensities ?? null,
        cohort_ids: profile?.cohort_ids ?? null,
        amp_props: profile?.amp_props ?? null,
      }) + '\n';
    return control === 'drop' ? { text, rows: 1, dropped: 0 } : { text, rows: 1 };
  }
}
