import type { Readable } from 'node:stream';
import { type CsvError, type Parser, parse } from 'csv-parse';
import { LineIndex } from './lines.js';
import { Sniff } from './sniff.js';

/** A CSV record and where it sits in the input. */
export interface CsvRecord {
  kind: 'record';
  fields: string[];
  /** Physical line the record starts on (header = 1). */
  line: number;
  /** Byte offset just past the record, and the line feeds before it: where a resumed read starts. */
  end: number;
  endFeeds: number;
}

/** A record csv-parse could not read. `end`: where reading went on; absent when it could not seek there. */
export interface Unreadable {
  kind: 'unreadable';
  line: number;
  reason: string;
  end?: number;
  endFeeds?: number;
}

export interface ReadOptions {
  /** Byte offset the stream starts at, and the line feeds before it (a resumed read). */
  offset: number;
  linesBefore: number;
  /** Look at the first bytes for a file that is not CSV (a read from the start of the input). */
  sniff: boolean;
  /** Opens the input again at a byte offset (a file); absent for stdin, which cannot seek. */
  reopen?: ((offset: number) => Readable) | undefined;
  /**
   * Narrows each record (blank lines aside) as the parser makes it, before it is buffered: a
   * row of a million cells must not wait in the parser's queue whole. Line counting sees the
   * whole record first.
   */
  project?: ((record: string[]) => string[]) | undefined;
}

/** Largest record accepted (bytes); a longer one is reported, not buffered without end. */
const MAX_RECORD_BYTES = 8 * 1024 * 1024;

/**
 * The records of a CSV with their physical lines and byte ends; whitespace-only lines are
 * skipped like blank ones. A record csv-parse cannot read (an unterminated or stray quote, a
 * record over 8 MiB) becomes an Unreadable on the line it starts on, and reading starts again
 * with a fresh parser on the next physical line: a quote left open swallows the rows after it
 * (to the end of the file, or to the next quote), and those rows are real users. Stdin cannot
 * seek, so there the parser goes on as csv-parse can, and the reason says which lines were lost.
 */
export function readRecords(stream: Readable, o: ReadOptions): AsyncGenerator<CsvRecord | Unreadable> {
  const first = segment(stream, o.offset, o.linesBefore, o.sniff, o.project);
  return o.reopen ? restarting(first, o.reopen, o.project) : unseekable(first);
}

/** A record that failed: where it starts, and the reader's position before it. */
interface Broken {
  kind: 'broken';
  err: CsvError;
  line: number;
  /** End of the record before it, and the blank lines between that end and its first line. */
  from: number;
  blankLines: number;
}

/** Every record ended: the last line of the input. */
interface Ended {
  kind: 'ended';
  lastLine: number;
}

/**
 * A record as the parser pushed it: `bytes`, csv-parse's byte count just past it, and
 * `emptyLines`, the blank lines skipped so far, read when it was pushed; `feeds`, the line feeds
 * inside its quoted fields, counted before it was narrowed.
 */
type Parsed = { record: string[]; bytes: number; emptyLines: number; feeds: number } | { broken: CsvError };

async function* segment(
  stream: Readable,
  base: number,
  feedsBefore: number,
  sniff: boolean,
  project: ((record: string[]) => string[]) | undefined,
): AsyncGenerator<CsvRecord | Broken | Ended> {
  const lines = new LineIndex(base, feedsBefore);
  const parser = parse({
    bom: base === 0,
    relax_column_count: true,
    skip_empty_lines: true,
    // Both line ends, whatever the first line has: an export with rows appended by another
    // tool mixes them, and a resumed read must split records as the first read did.
    record_delimiter: ['\r\n', '\n'],
    max_record_size: MAX_RECORD_BYTES,
    skip_records_with_error: true,
    // Called synchronously where the record failed: pushed here, the marker sits between the
    // records before and after it (csv-parse parses ahead of its reader).
    on_skip: (err) => {
      if (err) parser.push({ broken: err } satisfies Parsed);
      return undefined;
    },
  });
  tagRecords(parser, project);
  const sniffer = sniff ? new Sniff() : undefined;
  for (const s of [stream, sniffer, lines]) s?.on('error', (err) => parser.destroy(err));
  (sniffer ? stream.pipe(sniffer) : stream).pipe(lines).pipe(parser);

  let lastEnd = base;
  let blankBefore = 0;
  try {
    for await (const p of parser as AsyncIterable<Parsed>) {
      if ('broken' in p) {
        const blankLines = Number(p.broken.empty_lines ?? blankBefore) - blankBefore;
        yield { kind: 'broken', err: p.broken, line: 1 + lines.feedsBefore(lastEnd) + blankLines, from: lastEnd, blankLines };
        continue;
      }
      const { record } = p;
      const end = base + p.bytes;
      // The last line of the record, less the line feeds inside its quoted fields: exact with
      // CRLF, blank lines and skipped records (csv-parse's `info.lines` is not).
      const line = 1 + lines.feedsBefore(end - 1) - p.feeds;
      lastEnd = end;
      blankBefore = p.emptyLines;
      if (isBlank(record)) continue;
      yield { kind: 'record', fields: record, line, end, endFeeds: lines.feedsBefore(end) };
    }
    yield { kind: 'ended', lastLine: lines.linesSeen };
  } finally {
    stream.destroy();
    sniffer?.destroy();
    lines.destroy();
    parser.destroy();
  }
}

/**
 * Each record the parser pushes gets where it ends (and is narrowed), as it is pushed: before
 * it is buffered, so a row of a million cells never waits in the parser's queue whole. Not
 * csv-parse's `info` option: it builds an object of a dozen fields per record (about 2 µs,
 * a third of the parse). A narrowing that throws (a header too wide) ends the parse with it.
 */
function tagRecords(parser: Parser, project: ((record: string[]) => string[]) | undefined): void {
  const push = parser.push.bind(parser);
  const info = parser.info;
  parser.push = (chunk: unknown) => {
    if (!Array.isArray(chunk)) return push(chunk);
    const record = chunk as string[];
    let narrowed = record;
    if (project && !isBlank(record)) {
      try {
        narrowed = project(record);
      } catch (err) {
        parser.destroy(err as Error);
        return false;
      }
    }
    return push({ record: narrowed, bytes: info.bytes, emptyLines: info.empty_lines, feeds: innerFeeds(record) } satisfies Parsed);
  };
}

/** A file: each unreadable record is reported, and a fresh parser starts on the next line. */
async function* restarting(
  first: AsyncGenerator<CsvRecord | Broken | Ended>,
  reopen: (offset: number) => Readable,
  project: ((record: string[]) => string[]) | undefined,
): AsyncGenerator<CsvRecord | Unreadable> {
  for (let events = first; ; ) {
    let broken: Broken | undefined;
    for await (const e of events) {
      if (e.kind === 'broken') {
        broken = e;
        break;
      }
      if (e.kind === 'record') yield e;
    }
    if (!broken) return;
    const next = await pastLineFeeds(reopen(broken.from), broken.from, broken.blankLines + 1);
    if (next === null) {
      // The record starts on the last line: nothing after it to read.
      yield { kind: 'unreadable', line: broken.line, reason: reasonFor(broken.err) };
      return;
    }
    yield { kind: 'unreadable', line: broken.line, reason: reasonFor(broken.err), end: next, endFeeds: broken.line };
    events = segment(reopen(next), next, broken.line, false, project);
  }
}

/**
 * Stdin: csv-parse skips the record and goes on from where it failed, which after an open
 * quote is the next quote or the end. The failures up to the next record read are one
 * Unreadable, whose reason names the lines lost with it.
 */
async function* unseekable(events: AsyncGenerator<CsvRecord | Broken | Ended>): AsyncGenerator<CsvRecord | Unreadable> {
  let failed: Broken | undefined;
  for await (const e of events) {
    if (e.kind === 'broken') {
      failed ??= e;
      continue;
    }
    if (failed) {
      const lost = e.kind === 'record' ? lostWith(failed.line, e.line - 1, false) : lostWith(failed.line, e.lastLine, true);
      yield { kind: 'unreadable', line: failed.line, reason: reasonFor(failed.err) + lost };
      failed = undefined;
    }
    if (e.kind === 'record') yield e;
  }
}

/** The lines after an unreadable record on stdin, up to `last`, that were lost with it. */
function lostWith(line: number, last: number, toEnd: boolean): string {
  if (last <= line) return '';
  const what = toEnd ? `the rest of the input after line ${line}` : last === line + 1 ? `line ${last}` : `lines ${line + 1} to ${last}`;
  return `; ${what} could not be read either (stdin cannot be read again: give the file to --input to recover them)`;
}

const WHAT: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'unterminated quote',
  // A closing quote with text after it: `"a"b`, or a quote left open on an earlier line that
  // the next quote in the file closed.
  CSV_INVALID_CLOSING_QUOTE: 'unbalanced quote',
  INVALID_OPENING_QUOTE: 'a quote inside an unquoted field',
  // A quote left open in a big file reaches this before the end of the file does.
  CSV_MAX_RECORD_SIZE: `over ${MAX_RECORD_BYTES / 1024 / 1024} MiB: a very long row, or a quote never closed`,
};

function reasonFor(err: CsvError): string {
  return `unreadable row: ${WHAT[err.code] ?? err.message.split(':')[0]!.toLowerCase()} (${err.code})`;
}

/** A whitespace-only line: skipped like a blank one. */
function isBlank(record: string[]): boolean {
  return record.length === 1 && record[0]!.trim() === '';
}

function innerFeeds(record: string[]): number {
  let n = 0;
  for (const f of record) for (let i = f.indexOf('\n'); i !== -1; i = f.indexOf('\n', i + 1)) n++;
  return n;
}

/** Offset just past the `n`th line feed of a stream starting at `start`; null if it ends first. */
async function pastLineFeeds(stream: Readable, start: number, n: number): Promise<number | null> {
  let pos = start;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) if (--n === 0) return pos + i + 1;
    pos += chunk.length;
  }
  return null;
}
