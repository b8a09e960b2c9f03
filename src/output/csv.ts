import { stringify } from 'csv-stringify/sync';
import type { Profile, ProfileQuery, Recommendation } from '../api/types.js';
import type { RowStatus } from '../pipeline/outcome.js';
import type { UserRow } from '../sources/csv.js';
import type { Formatted } from '../pipeline/writer.js';
import { underControl } from './control.js';
import { FETCHED_AT_MARK } from './fetched-at.js';
import type { ControlMode } from './options.js';
import type { Passthrough } from './passthrough.js';

export interface CsvLayout {
  query: ProfileQuery;
  maxItems: number;
  escapeFormulas: boolean;
  /** Input columns written after the ids (`--passthrough`). */
  pass?: Passthrough | undefined;
  /** `--control`: what control-group recs get. @default 'keep' */
  control?: ControlMode | undefined;
  /** --state: a `fetched_at` column before `status` (output/fetched-at.ts). */
  fetchedAt?: boolean | undefined;
}

/**
 * One row per user and requested rec_id (README, "Output"):
 * `user_id,device_id[,rec_id,is_control,recommendation_source,last_updated,item_1..item_N]`
 * `[,propensity_<id>...][,cohort_ids][,amp_props],status`. Cohorts and properties, which the
 * contract leaves out, get a column only when asked: cohort ids joined with `;`, properties as
 * a JSON object. Cells are verbatim; booleans `true`/`false`. `--passthrough` columns come
 * right after the ids. `--control blank` empties a control rec's item cells; `--control drop`
 * leaves out its row (a user whose every row is a control rec then has none).
 */
export class CsvRows {
  private readonly recs: boolean;
  private readonly props: boolean;
  private readonly options: { escape_formulas: boolean };

  constructor(private readonly layout: CsvLayout) {
    const q = layout.query;
    this.recs = q.recIds.length > 0;
    this.props = q.ampProps || q.computations || q.compIds.length > 0;
    this.options = { escape_formulas: layout.escapeFormulas };
  }

  header(): string {
    const q = this.layout.query;
    const cols = ['user_id', 'device_id', ...(this.layout.pass?.headers ?? [])];
    if (this.recs) {
      cols.push('rec_id', 'is_control', 'recommendation_source', 'last_updated');
      for (let i = 1; i <= this.layout.maxItems; i++) cols.push(`item_${i}`);
    }
    for (const id of q.predictionIds) cols.push(`propensity_${id}`);
    if (q.cohortIds) cols.push('cohort_ids');
    if (this.props) cols.push('amp_props');
    if (this.layout.fetchedAt) cols.push('fetched_at');
    cols.push('status');
    return stringify([cols]);
  }

  format(row: UserRow, status: RowStatus, profile: Profile | null): Formatted {
    const tail = this.tail(status, profile);
    const ids = this.layout.pass ? [row.user_id, row.device_id, ...this.layout.pass.cells(row)] : [row.user_id, row.device_id];
    const lines: string[][] = [];
    const control = this.layout.control ?? 'keep';
    let dropped = 0;
    if (!this.recs || !profile || status === 'no_recs') {
      lines.push([...ids, ...(this.recs ? this.emptyRec('') : []), ...tail]);
    } else {
      for (const id of this.layout.query.recIds) {
        const found = profile.recommendations?.find((r) => r.rec_id === id);
        const rec = found && underControl(found, control);
        if (found && !rec) {
          dropped++;
          continue;
        }
        // A requested rec the API left out: its row says so, so the email tool uses its baseline.
        lines.push(rec ? [...ids, ...this.recCells(rec), ...tail] : [...ids, ...this.emptyRec(id), ...tail.slice(0, -1), 'no_recs']);
      }
    }
    const text = lines.length > 0 ? stringify(lines, this.options) : '';
    return control === 'drop' ? { text, rows: lines.length, dropped } : { text, rows: lines.length };
  }

  private recCells(rec: Recommendation): string[] {
    const cells = [rec.rec_id, bool(rec.is_control), rec.recommendation_source ?? '', rec.last_updated === null ? '' : String(rec.last_updated)];
    for (let i = 0; i < this.layout.maxItems; i++) cells.push(rec.items[i] ?? '');
    return cells;
  }

  private emptyRec(recId: string): string[] {
    return [recId, '', '', '', ...new Array<string>(this.layout.maxItems).fill('')];
  }

  private tail(status: RowStatus, profile: Profile | null): string[] {
    const q = this.layout.query;
    const cells: string[] = [];
    for (const id of q.predictionIds) {
      const p = profile?.propensities?.find((x) => x.pred_id === id);
      cells.push(p?.prop === null || p?.prop === undefined ? '' : String(p.prop));
    }
    if (q.cohortIds) cells.push(profile?.cohort_ids?.join(';') ?? '');
    if (this.props) cells.push(profile?.amp_props ? JSON.stringify(profile.amp_props) : '');
    if (this.layout.fetchedAt) cells.push(status === 'not_fetched' ? '' : FETCHED_AT_MARK);
    cells.push(status);
    return cells;
  }
}

const bool = (b: boolean | null) => (b === null ? '' : b ? 'true' : 'false');
