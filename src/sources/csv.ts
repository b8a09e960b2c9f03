import type { Readable } from 'node:stream';
import { ExitError, inputError } from '../errors.js';
import { keptColumns, MAX_COLUMNS, project } from './columns.js';
import { type CsvRecord, readRecords, type Unreadable } from './records.js';

/** An input row with an id: one request. */
export interface UserRow {
  kind: 'user';
  /** Physical line the record starts on (header = 1). */
  line: number;
  user_id: string;
  device_id: string;
  /** The row's cells in the source's `header` columns (the ones the output reads), for columns carried through. */
  fields: string[];
  /** Byte offset just past this record: where a resumed read starts. */
  end: number;
  /** Line feeds before `end`: the line count a resumed read starts from. */
  endFeeds: number;
}

/** An input row that cannot be used: written to the errors file, never requested. */
export interface BadRow {
  kind: 'bad';
  line: number;
  user_id: string;
  device_id: string;
  reason: string;
  /** Where reading went on after it; absent when it could not seek there (stdin). */
  end?: number;
  endFeeds?: number;
}

export type SourceItem = UserRow | BadRow;

export interface CsvSourceOptions {
  userIdColumn: string;
  deviceIdColumn: string;
  /** Where the input name is reported in errors. */
  name: string;
  /**
   * A resumed read: the stream starts at `offset`, after the header, with `linesBefore` line
   * feeds behind it; `header` and `columns` as the first run's source gave them (`columns`
   * absent: `header` is the whole header, as checkpoints written before it kept it).
   */
  resume?: { offset: number; linesBefore: number; header: string[]; columns?: number[] | undefined } | undefined;
  /**
   * Input columns the output reads besides the ids (`columnsUsed`): rows keep only those
   * cells. Absent: every cell is kept.
   */
  columns?: string[] | undefined;
  /** Opens the input again at a byte offset, to read on past an unreadable record; absent for stdin. */
  reopen?: ((offset: number) => Readable) | undefined;
  /** Warnings about the input as a whole (an id column named twice, no users). */
  warn?: ((fields: Record<string, unknown>, msg: string) => void) | undefined;
}

export interface UserSource {
  /** The column names rows carry (the ids and the columns asked for), in input order. */
  header: string[];
  /** Where `header`'s columns sit in the input's header; null when rows carry every column. */
  columns: number[] | null;
  /** Byte offset just past the header record, and the line feeds before it. */
  headerEnd: number;
  headerFeeds: number;
  /**
   * The rows, a batch at a time (up to 256, parsed from the same chunk of the input): what the
   * run and the plan read, with no await per row. `rows` is the same one by one; read one of the two.
   */
  batches: AsyncIterable<SourceItem[]>;
  rows: AsyncIterable<SourceItem>;
}

/**
 * No Amplitude id comes near this; an id of 1 MB (a cell pasted into the wrong column) would
 * make a 1 MB request URL that the API or a proxy refuses, and it would be retried as a failure.
 */
const MAX_ID_CHARS = 1024;

/**
 * Reads a users CSV: a header row, then one user per record. Ids are trimmed (warehouse and
 * spreadsheet exports pad them; Amplitude ids with edge spaces are not a thing people mean).
 * The header is read before this returns, so a file with no id column, or one that is not
 * CSV at all, fails before any request is sent. Unusable records become bad items; see
 * records.ts for how reading goes on after one that cannot be parsed. A NUL in any cell the
 * output reads makes the row unusable wherever it is (the first bytes of the file are refused
 * whole as binary, see sniff.ts): email tools' importers cut a cell at a NUL or refuse it.
 */
export async function openCsvSource(stream: Readable, opts: CsvSourceOptions): Promise<UserSource> {
  const { name, resume } = opts;
  const ids = [opts.userIdColumn, opts.deviceIdColumn];
  // Decided on the header record inside the parser, so that no row is ever held whole.
  let kept: number[] | null | undefined = resume ? (resume.columns ?? (opts.columns ? keptColumns(resume.header, ids, opts.columns) : null)) : undefined;
  const narrow = (record: string[]): string[] => {
    if (kept === undefined) {
      // Thrown inside the parser: it stops at the header instead of parsing rows ahead.
      if (record.length > MAX_COLUMNS) throw tooWide(name, record.length);
      kept = opts.columns ? keptColumns(record, ids, opts.columns) : null;
      return record;
    }
    return kept ? project(record, kept) : record;
  };
  const records = readRecords(stream, { offset: resume?.offset ?? 0, linesBefore: resume?.linesBefore ?? 0, sniff: !resume, reopen: opts.reopen, project: narrow });

  let header: string[];
  let headerEnd = resume?.offset ?? 0;
  let headerFeeds = resume?.linesBefore ?? 0;
  // Records read with the header, for the rows.
  let ahead: Array<CsvRecord | Unreadable> = [];
  if (resume) {
    header = resume.columns || !kept ? resume.header : project(resume.header, kept);
  } else {
    const batch = await next(records, name);
    const first = batch?.[0];
    ahead = batch?.slice(1) ?? [];
    if (!first) throw inputError(`${name}: the file is empty (a header row with ${opts.userIdColumn} or ${opts.deviceIdColumn} is needed)`);
    if (first.kind === 'unreadable') {
      void records.return(undefined);
      throw inputError(`${name}: the header row (line ${first.line}) cannot be read: ${first.reason.replace(/^unreadable row: /, '')}`);
    }
    header = (kept ? project(first.fields, kept) : first.fields).map((h) => h.trim());
    headerEnd = first.end;
    headerFeeds = first.endFeeds;
  }
  const columns = kept ?? null;
  const userIdx = header.indexOf(opts.userIdColumn);
  const deviceIdx = header.indexOf(opts.deviceIdColumn);
  if (userIdx < 0 && deviceIdx < 0) {
    stream.destroy();
    void records.return(undefined);
    throw inputError(
      `${name}: no ${opts.userIdColumn} or ${opts.deviceIdColumn} column in the header (${header.slice(0, 8).join(',')}${header.length > 8 ? ',…' : ''}); rename with --user-id-column/--device-id-column`,
    );
  }
  for (const column of new Set(ids)) {
    const at = header.flatMap((h, i) => (h === column ? [(columns ? columns[i]! : i) + 1] : []));
    if (at.length > 1) opts.warn?.({ column, positions: at }, `the header names ${column} ${at.length} times: using the first (column ${at[0]})`);
  }

  const item = (r: CsvRecord | Unreadable): SourceItem => {
    if (r.kind === 'unreadable') return { kind: 'bad', line: r.line, user_id: '', device_id: '', reason: r.reason, end: r.end, endFeeds: r.endFeeds };
    const { fields, line, end, endFeeds } = r;
    const user_id = (userIdx >= 0 ? fields[userIdx] : undefined)?.trim() ?? '';
    const device_id = (deviceIdx >= 0 ? fields[deviceIdx] : undefined)?.trim() ?? '';
    const nulAt = fields.findIndex((f) => f.includes('\0'));
    const problem =
      nulAt >= 0
        ? `NUL byte in ${header[nulAt] || `column ${(columns ? columns[nulAt]! : nulAt) + 1}`} (binary data in a text file)`
        : !user_id && !device_id
          ? `no ${opts.userIdColumn} or ${opts.deviceIdColumn}`
          : (idProblem(user_id) ?? idProblem(device_id));
    // U+FFFD in the errors file: a NUL there would make it refused as binary when rerun.
    if (problem) return { kind: 'bad', line, user_id: user_id.replaceAll('\0', '\uFFFD'), device_id: device_id.replaceAll('\0', '\uFFFD'), reason: problem, end, endFeeds };
    return { kind: 'user', line, user_id, device_id, fields, end, endFeeds };
  };

  async function* batches(): AsyncGenerator<SourceItem[]> {
    let users = 0;
    try {
      for (let batch = ahead; ; ) {
        if (batch.length > 0) {
          const items = batch.map(item);
          for (const i of items) if (i.kind === 'user') users++;
          yield items;
        }
        const more = await next(records, name);
        if (!more) break;
        batch = more;
      }
    } finally {
      // Stops the reads and closes the file when the pipeline stops early.
      await records.return(undefined);
    }
    if (!resume && users === 0) opts.warn?.({ input: name }, 'no users in the input');
  }
  const inBatches = batches();
  return { header, columns, headerEnd, headerFeeds, batches: inBatches, rows: oneByOne(inBatches) };
}

/** Batches one item at a time. */
export async function* oneByOne<T>(batches: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const b of batches) yield* b;
}

function tooWide(name: string, width: number): ExitError {
  return inputError(
    `${name}: the header row has ${width.toLocaleString('en-US')} columns, more than the ${MAX_COLUMNS.toLocaleString('en-US')} read (the widest sheet a spreadsheet saves): is it the users file, with line ends after the header?`,
  );
}

/** Why an id cannot be requested, or null. */
function idProblem(id: string): string | null {
  // csv-parse decodes UTF-8 with replacement: U+FFFD stands for bytes that were not UTF-8 (a
  // Latin-1 export). A literal U+FFFD in an id is the trace of such a decode upstream.
  if (id.includes('\uFFFD')) return 'invalid UTF-8 in id';
  if (id.length > MAX_ID_CHARS && [...id].length > MAX_ID_CHARS) return `id longer than ${MAX_ID_CHARS} characters`;
  return null;
}

async function next<T>(it: AsyncIterator<T>, name: string): Promise<T | undefined> {
  try {
    const r = await it.next();
    return r.done ? undefined : r.value;
  } catch (err) {
    throw err instanceof ExitError ? err : inputError(`${name}: ${(err as Error).message}`);
  }
}
