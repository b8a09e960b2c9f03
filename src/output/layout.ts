import { parse } from 'csv-parse/sync';
import type { ProfileQuery } from '../api/types.js';
import { inputError, usageError } from '../errors.js';
import type { RowFormat } from '../pipeline/writer.js';
import type { SourceItem, UserRow } from '../sources/csv.js';
import { CsvRows } from './csv.js';
import { JSONL_KEYS, JsonlRows } from './jsonl.js';
import { Passthrough } from './passthrough.js';
import { PRESET } from './presets/presets.js';
import type { EspOptions } from './options.js';
import { PresetRows } from './presets/wide.js';

/** The options that shape rows (an ExportConfig has them all). */
export interface LayoutOptions {
  format: 'csv' | 'jsonl';
  maxItems: number | null;
  query: ProfileQuery;
  escapeFormulas: boolean;
  userIdColumn: string;
  esp: EspOptions;
  /** --state: every row gets a `fetched_at` cell (output/fetched-at.ts). */
  state?: unknown;
}

export interface OutputLayout {
  rows: RowFormat;
  /** Set with --state: the rows carry a fetched_at mark, replaced on the way out as this format writes it. */
  fetchedAt: 'csv' | 'jsonl' | null;
  /**
   * Turns input rows a preset cannot import (no identifier) into unusable rows before any
   * request is spent on them: they go to the errors file with a reason, and count as skipped.
   */
  screen?: ((items: SourceItem[]) => SourceItem[]) | undefined;
}

/**
 * The row format for this job, once the input header is known (passthrough columns and the
 * email column are found by name). Everything wrong here stops the job before any request,
 * with exit 2: a column the input lacks, or two output columns of the same name.
 */
export function outputLayout(cfg: LayoutOptions, header: string[], inputName: string): OutputLayout {
  const esp = cfg.esp;
  const pass = new Passthrough(esp.passthrough, header, inputName);
  const fetchedAt = Boolean(cfg.state);
  const stamped = fetchedAt ? cfg.format : null;
  if (cfg.format === 'jsonl') {
    const clash = pass.headers.filter((h) => (JSONL_KEYS as readonly string[]).includes(h));
    if (clash.length > 0) throw usageError(`--passthrough ${clash.join(',')}: the JSONL object has its own key of that name; rename it (column:Name)`);
    return { rows: new JsonlRows(cfg.maxItems, { pass, control: esp.control, fetchedAt }), fetchedAt: stamped };
  }
  const maxItems = cfg.maxItems ?? 10;
  if (!esp.preset || !esp.key) {
    const rows = new CsvRows({ query: cfg.query, maxItems, escapeFormulas: cfg.escapeFormulas, pass, control: esp.control, fetchedAt });
    uniqueColumns(rows.header());
    return { rows, fetchedAt: stamped };
  }

  const preset = PRESET[esp.preset];
  const emailAt = header.indexOf(esp.emailColumn);
  if (esp.key === 'email' && emailAt < 0) {
    throw inputError(`${inputName}: no ${esp.emailColumn} column in the header; --preset ${preset.name} identifies users by email: name the column with --email-column`);
  }
  if (esp.key === 'email' && esp.passthrough.some((c) => c.from === esp.emailColumn)) {
    throw usageError(`--passthrough ${esp.emailColumn}: it is already the identifier column of --preset ${preset.name}`);
  }
  const rows = new PresetRows({ preset, key: esp.key, emailAt, query: cfg.query, maxItems, escapeFormulas: cfg.escapeFormulas, pass, control: esp.control, fetchedAt });
  // Marketing Cloud and Klaviyo match headers to fields without regard to case.
  uniqueColumns(rows.header(), true);
  const idHeader = rows.idHeader;
  const why =
    esp.key === 'user_id'
      ? (u: { user_id: string }) => (u.user_id ? null : `no ${cfg.userIdColumn}: ${preset.name} imports users by ${idHeader}`)
      : (u: { fields: string[] }) => emailProblem((u.fields[emailAt] ?? '').trim(), esp.emailColumn, preset.name);
  return { rows, fetchedAt: stamped, screen: (items) => screen(items, why) };
}

/** Two output columns of one name would make the import ambiguous (a passthrough, or rec ids that read the same). */
function uniqueColumns(headerLine: string, anyCase = false): void {
  const names = ((parse(headerLine) as string[][])[0] ?? []).map((n) => (anyCase ? n.toLowerCase() : n));
  const twice = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  if (twice.length > 0) throw usageError(`the output would have two columns named ${twice.join(', ')}; rename with --passthrough column:Name, or request rec and prediction ids that differ in letters or digits`);
}

/**
 * A plain address, `local@domain`, with no spaces: `Doe, Jane <jane@x.com>` would be refused by
 * the tool (Klaviyo: "Email is invalid"), and a row it refuses is better in the errors file.
 */
function emailProblem(email: string, column: string, preset: string): string | null {
  if (!email) return `no ${column}: ${preset} imports users by email`;
  if (!/^[^\s@<>",;]+@[^\s@<>",;]+$/.test(email)) return `${column} is not a plain address (local@domain): ${preset} would refuse it`;
  return null;
}

/** The source's batches through a layout's screen (none: as they come). */
export async function* screened(batches: AsyncIterable<SourceItem[]>, screen: OutputLayout['screen']): AsyncGenerator<SourceItem[]> {
  for await (const b of batches) yield screen ? screen(b) : b;
}

/** A batch of the source's rows, those the preset cannot import turned unusable. */
function screen(items: SourceItem[], why: (u: UserRow) => string | null): SourceItem[] {
  return items.map((item) => {
    const reason = item.kind === 'user' ? why(item) : null;
    return item.kind === 'user' && reason ? { kind: 'bad', line: item.line, user_id: item.user_id, device_id: item.device_id, reason, end: item.end, endFeeds: item.endFeeds } : item;
  });
}
