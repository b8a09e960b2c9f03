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
 * The records of a CSV with their physical lines and byte ends, in batches (what the parser
 * holds at a time: a chunk of the input); whitespace-only lines are skipped like blank ones. A record csv-parse cannot read (an unterminated or stray quote, a
 * record over 8 MiB) becomes an Unreadable on the line it starts on, and reading starts again
 * with a fresh parser on the next physical line: a quote left open swallows the rows after it
 * (to the end of the file, or to the next quote), and those rows are real users. Stdin cannot
 * seek, so there the parser goes on as csv-parse can, and the reason says which lines were lost.
 */
export function readRecords(stream: Readable, o: ReadOptions): AsyncGenerator<Array<CsvRecord | Unreadable>> {
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

/**
 * Records per batch at most. A chunk of the input holds thousands; a batch lives until the run
 * has handed its rows on (waiting for room among the requests in flight), so a small one keeps
 * them out of V8's old generation: whole chunks as batches raised a night's peak RSS by 27 MB.
 */
const BATCH = 256;

/**
 * One parser's events, a batch at a time: the records the parser holds are taken with `read()`
 * until it has none (or a batch is full), then the next chunk is awaited. An await per record
 * cost more than the parse (a million rows: about 1 s for the records, 2 s with a generator per
 * stage).
 */
async function* segment(
  stream: Readable,
  base: number,
  feedsBefore: number,
  sniff: boolean,
  project: ((record: string[]) => string[]) | undefined,
): AsyncGenerator<Array<CsvRecord | Broken | Ended>> {
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
    for (;;) {
      const batch: Array<CsvRecord | Broken | Ended> = [];
      let p: Parsed | null = null;
      while (batch.length < BATCH && (p = parser.read() as Parsed | null) !== null) {
        if ('broken' in p) {
          const blankLines = Number(p.broken.empty_lines ?? blankBefore) - blankBefore;
          batch.push({ kind: 'broken', err: p.broken, line: 1 + lines.feedsBefore(lastEnd) + blankLines, from: lastEnd, blankLines });
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
        batch.push({ kind: 'record', fields: record, line, end, endFeeds: lines.feedsBefore(end) });
      }
      if (p === null && parser.readableEnded) {
        batch.push({ kind: 'ended', lastLine: lines.linesSeen });
        yield batch;
        return;
      }
      if (batch.length > 0) yield batch;
      // A full batch leaves records in the parser: no wait for more before they are taken.
      if (p === null) await readableOrEnd(parser);
    }
  } finally {
    stream.destroy();
    sniffer?.destroy();
    lines.destroy();
    parser.destroy();
  }
}

/**
 * Resolves when `stream` has something to read or has ended; rejects with its error (a read
 * that failed, a file found not to be CSV, a header too wide).
 */
function readableOrEnd(stream: Readable): Promise<void> {
  // Closed before its end without an error: as `for await` over it would say, never a wait without end.
  const closedEarly = () => stream.errored ?? (stream.readableEnded ? undefined : new Error('the input closed before its end (premature close)'));
  if (stream.errored || stream.destroyed) {
    const err = closedEarly();
    return err ? Promise.reject(err) : Promise.resolve();
  }
  if (stream.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('readable', ready);
      stream.off('end', ready);
      stream.off('close', closed);
      stream.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const ready = () => done();
    const closed = () => done(closedEarly());
    stream.on('readable', ready);
    stream.on('end', ready);
    stream.on('close', closed);
    stream.on('error', done);
  });
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
  first: AsyncGenerator<Array<CsvRecord | Broken | Ended>>,
  reopen: (offset: number) => Readable,
  project: ((record: string[]) => string[]) | undefined,
): AsyncGenerator<Array<CsvRecord | Unreadable>> {
  for (let events = first; ; ) {
    let broken: Broken | undefined;
    for await (const batch of events) {
      const records: CsvRecord[] = [];
      for (const e of batch) {
        if (e.kind === 'broken') {
          broken = e;
          break;
        }
        if (e.kind === 'record') records.push(e);
      }
      if (records.length > 0) yield records;
      // What the parser read past it is dropped with it: reading starts again after its line.
      if (broken) break;
    }
    if (!broken) return;
    const next = await pastLineFeeds(reopen(broken.from), broken.from, broken.blankLines + 1);
    if (next === null) {
      // The record starts on the last line: nothing after it to read.
      yield [{ kind: 'unreadable', line: broken.line, reason: reasonFor(broken.err) }];
      return;
    }
    yield [{ kind: 'unreadable', line: broken.line, reason: reasonFor(broken.err), end: next, endFeeds: broken.line }];
    events = segment(reopen(next), next, broken.line, false, project);
  }
}

/**
 * Stdin: csv-parse skips the record and goes on from where it failed, which after an open
 * quote is the next quote or the end. The failures up to the next record read are one
 * Unreadable, whose reason names the lines lost with it.
 */
async function* unseekable(events: AsyncGenerator<Array<CsvRecord | Broken | Ended>>): AsyncGenerator<Array<CsvRecord | Unreadable>> {
  let failed: Broken | undefined;
  for await (const batch of events) {
    const out: Array<CsvRecord | Unreadable> = [];
    for (const e of batch) {
      if (e.kind === 'broken') {
        failed ??= e;
        continue;
      }
      if (failed) {
        const lost = e.kind === 'record' ? lostWith(failed.line, e.line - 1, false) : lostWith(failed.line, e.lastLine, true);
        out.push({ kind: 'unreadable', line: failed.line, reason: reasonFor(failed.err) + lost });
        failed = undefined;
      }
      if (e.kind === 'record') out.push(e);
    }
    if (out.length > 0) yield out;
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
