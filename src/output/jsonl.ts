import type { Profile } from '../api/types.js';
import type { RowStatus } from '../pipeline/outcome.js';
import type { UserRow } from '../sources/csv.js';
import type { Formatted } from '../pipeline/writer.js';

/**
 * One object per user (PRODUCT.md, "Output"): the API's rec objects with `child_rec_id`,
 * items cut to `maxItems` only when it is given; propensities as `{prop, pred_id, prop_type}`
 * whatever shape the API answered in; null where not asked or not known.
 */
export class JsonlRows {
  constructor(private readonly maxItems: number | null) {}

  header(): string {
    return '';
  }

  format(row: UserRow, status: RowStatus, profile: Profile | null): Formatted {
    const max = this.maxItems;
    const recs = profile?.recommendations ?? null;
    const text =
      JSON.stringify({
        user_id: row.user_id || null,
        device_id: row.device_id || null,
        status,
        recommendations: recs && max !== null ? recs.map((r) => ({ ...r, items: r.items.slice(0, max) })) : recs,
        propensities: profile?.propensities ?? null,
        cohort_ids: profile?.cohort_ids ?? null,
        amp_props: profile?.amp_props ?? null,
      }) + '\n';
    return { text, rows: 1 };
  }
}
