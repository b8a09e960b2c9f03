import type { Readable } from 'node:stream';
import { parse, type CsvError, type Info } from 'csv-parse';
import { inputError } from '../errors.js';
import { LineIndex } from './lines.js';

/** An input row with an id: one request. */
export interface UserRow {
  kind: 'user';
  /** Physical line the record starts on (header = 1). */
  line: number;
  user_id: string;
  device_id: string;
  /** All fields of the row, for columns carried through. */
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
  /** Set when the record was parsed (no id); absent for a record csv-parse could not read. */
  end?: number;
  endFeeds?: number;
}

export type SourceItem = UserRow | BadRow;

export interface CsvSourceOptions {
  userIdColumn: string;
  deviceIdColumn: string;
  /** Where the input name is reported in errors. */
  name: string;
  /** A resumed read: the stream starts at `offset`, after the header, with `linesBefore` line feeds behind it. */
  resume?: { offset: number; linesBefore: number; header: string[] } | undefined;
}

export interface UserSource {
  header: string[];
  /** Byte offset just past the header record, and the line feeds before it. */
  headerEnd: number;
  headerFeeds: number;
  rows: AsyncIterable<SourceItem>;
}

/** Largest record accepted (bytes); a longer one is reported, not buffered without end. */
const MAX_RECORD_BYTES = 8 * 1024 * 1024;

/**
 * Reads a users CSV: a header row, then one user per record. Ids are trimmed (warehouse and
 * spreadsheet exports pad them; Amplitude ids with edge spaces are not a thing people mean).
 * The header is read before this returns, so a file with no id column fails before any
 * request is sent.
 */
export async function openCsvSource(stream: Readable, opts: CsvSourceOptions): Promise<UserSource> {
  const base = opts.resume?.offset ?? 0;
  const lines = new LineIndex(base, opts.resume?.linesBefore ?? 0);
  const skipped: Array<{ err: CsvError; endOfPrev: number }> = [];
  let lastEnd = base;
  const parser = parse({
    bom: true,
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_BYTES,
    on_skip: (err) => {
      if (err) skipped.push({ err, endOfPrev: lastEnd });
      return undefined;
    },
  });
  stream.on('error', (err) => parser.destroy(err));
  stream.pipe(lines).pipe(parser);
  const records = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: Info }>;

  let header: string[];
  let headerEnd = base;
  let emptyBefore = 0;
  if (opts.resume) {
    header = opts.resume.header;
  } else {
    const first = await nextRecord(records, opts.name);
    if (!first) throw inputError(`${opts.name}: the file is empty (a header row with ${opts.userIdColumn} or ${opts.deviceIdColumn} is needed)`);
    header = first.record.map((h) => h.trim());
    headerEnd = lastEnd = first.info.bytes_records;
    emptyBefore = first.info.empty_lines;
  }
  const userIdx = header.indexOf(opts.userIdColumn);
  const deviceIdx = header.indexOf(opts.deviceIdColumn);
  if (userIdx < 0 && deviceIdx < 0) {
    stream.destroy();
    throw inputError(
      `${opts.name}: no ${opts.userIdColumn} or ${opts.deviceIdColumn} column in the header (${header.slice(0, 8).join(',')}${header.length > 8 ? ',…' : ''}); rename with --user-id-column/--device-id-column`,
    );
  }

  async function* rows(): AsyncGenerator<SourceItem> {
    try {
      for (;;) {
        const next = await nextRecord(records, opts.name);
        for (const s of skipped.splice(0)) yield badFromSkip(s.err, 1 + lines.feedsBefore(s.endOfPrev) + 1);
        if (!next) return;
        const { record, info } = next;
        const startLine = 1 + lines.feedsBefore(lastEnd) + (info.empty_lines - emptyBefore);
        emptyBefore = info.empty_lines;
        lastEnd = base + info.bytes_records;
        const endFeeds = lines.feedsBefore(lastEnd);
        const user_id = (userIdx >= 0 ? record[userIdx] : undefined)?.trim() ?? '';
        const device_id = (deviceIdx >= 0 ? record[deviceIdx] : undefined)?.trim() ?? '';
        if (!user_id && !device_id) {
          yield { kind: 'bad', line: startLine, user_id, device_id, reason: `no ${opts.userIdColumn} or ${opts.deviceIdColumn}`, end: lastEnd, endFeeds };
        } else {
          yield { kind: 'user', line: startLine, user_id, device_id, fields: record, end: lastEnd, endFeeds };
        }
      }
    } finally {
      stream.destroy();
      parser.destroy();
    }
  }
  return { header, headerEnd, headerFeeds: lines.feedsBefore(headerEnd), rows: rows() };
}

async function nextRecord(it: AsyncIterator<{ record: string[]; info: Info }>, name: string) {
  try {
    const r = await it.next();
    return r.done ? undefined : r.value;
  } catch (err) {
    throw inputError(`${name}: ${(err as Error).message}`);
  }
}

function badFromSkip(err: CsvError, line: number): BadRow {
  return { kind: 'bad', line, user_id: '', device_id: '', reason: `unreadable row: ${err.code}` };
}
