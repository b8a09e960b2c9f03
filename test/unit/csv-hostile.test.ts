import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExitError } from '../../src/errors.js';
import { type CsvSourceOptions, openCsvSource, type SourceItem } from '../../src/sources/csv.js';
import { notCsv, SNIFF_BYTES } from '../../src/sources/sniff.js';

/**
 * Inputs as warehouses and spreadsheets produce them. A "file" can be opened again at a byte
 * offset (reading goes on past an unreadable record); "stdin" cannot.
 */
const OPTS: CsvSourceOptions = { userIdColumn: 'user_id', deviceIdColumn: 'device_id', name: 'users.csv' };

const chunked = (buf: Buffer, size = buf.length || 1) => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  return Readable.from(chunks);
};

interface Read {
  header: string[];
  items: SourceItem[];
  warnings: string[];
}

async function read(input: string | Buffer, o: { stdin?: boolean; chunk?: number; opts?: Partial<CsvSourceOptions> } = {}): Promise<Read> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const warnings: string[] = [];
  const opts: CsvSourceOptions = {
    ...OPTS,
    reopen: o.stdin ? undefined : (offset) => chunked(buf.subarray(offset), o.chunk),
    warn: (fields, msg) => warnings.push(`${msg} ${JSON.stringify(fields)}`),
    ...o.opts,
  };
  const start = opts.resume?.offset ?? 0;
  const src = await openCsvSource(chunked(buf.subarray(start), o.chunk), opts);
  const items: SourceItem[] = [];
  for await (const item of src.rows) items.push(item);
  return { header: src.header, items, warnings };
}

/** What the output and the errors file show of each item. */
const seen = (items: SourceItem[]) => items.map((i) => (i.kind === 'user' ? [i.line, i.user_id, i.device_id] : [i.line, 'bad', i.reason]));

async function refused(input: string | Buffer, o: { stdin?: boolean } = {}): Promise<string> {
  const err = await read(input, o).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExitError);
  expect((err as ExitError).exitCode).toBe(2);
  expect((err as ExitError).message).not.toContain('\n');
  return (err as ExitError).message;
}

const UNTERMINATED = 'unreadable row: unterminated quote (CSV_QUOTE_NOT_CLOSED)';

describe('an unterminated or stray quote in a file: the row is reported, the rows after it are read', () => {
  it('a quote never closed: its first line is the error, reading goes on at the next line', async () => {
    const input = 'user_id,note\nu1,x\nu2,"abc\nu3,y\nu4,z\n';
    const { items } = await read(input);
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', UNTERMINATED],
      [4, 'u3', ''],
      [5, 'u4', ''],
    ]);
    // The error row's end is just past its first line: a checkpoint there resumes on line 4.
    expect(items[1]).toMatchObject({ end: input.indexOf('u3'), endFeeds: 3 });
  });

  it('a stray quote closed by a later one: every row it swallowed is read again', async () => {
    const input = 'user_id,note\nu1,x\nu2,"abc\nu3,y\n\nu4,"Doe, Jane"\nu5,z\n';
    expect(seen((await read(input)).items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', 'unreadable row: unbalanced quote (CSV_INVALID_CLOSING_QUOTE)'],
      [4, 'u3', ''],
      [6, 'u4', ''],
      [7, 'u5', ''],
    ]);
  });

  it('a quote inside an unquoted field, and two broken rows in a row', async () => {
    const input = 'user_id,note\r\nu1,5" screen\r\nu2,"a"b\r\n\r\n"u3\r\nu4,ok\r\n';
    expect(seen((await read(input)).items)).toEqual([
      [2, 'bad', 'unreadable row: a quote inside an unquoted field (INVALID_OPENING_QUOTE)'],
      [3, 'bad', 'unreadable row: unbalanced quote (CSV_INVALID_CLOSING_QUOTE)'],
      [5, 'bad', UNTERMINATED],
      [6, 'u4', ''],
    ]);
  });

  it('a broken last line without a line feed ends the read', async () => {
    const { items } = await read('user_id\nu1\nu2,"abc');
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', UNTERMINATED],
    ]);
    expect(items[1]!.end).toBeUndefined();
  });

  it('a broken row after blank lines is reported on its own line', async () => {
    const { items } = await read('user_id\nu1\n\n\n"u2\nu3\n');
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [5, 'bad', UNTERMINATED],
      [6, 'u3', ''],
    ]);
  });

  it('a record over 8 MiB is reported and the next line read', async () => {
    const big = 'x'.repeat(9 * 1024 * 1024);
    const { items } = await read(`user_id,note\nu1,a\nu2,${big}\nu3,b\n`, { chunk: 256 * 1024 });
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', 'unreadable row: over 8 MiB: a very long row, or a quote never closed (CSV_MAX_RECORD_SIZE)'],
      [4, 'u3', ''],
    ]);
  });

  it('a quote left open in a file bigger than 8 MiB: reported on its line, every row after it read', async () => {
    const pad = 'p'.repeat(1000);
    const rows = Array.from({ length: 9000 }, (_, i) => `u${i + 3},${pad}\n`).join('');
    const { items } = await read(`user_id,note\nu1,a\nu2,"open\n${rows}`, { chunk: 256 * 1024 });
    expect(items).toHaveLength(2 + 9000);
    expect(seen(items.slice(0, 3))).toEqual([
      [2, 'u1', ''],
      [3, 'bad', 'unreadable row: over 8 MiB: a very long row, or a quote never closed (CSV_MAX_RECORD_SIZE)'],
      [4, 'u3', ''],
    ]);
    expect(seen(items.slice(-1))).toEqual([[9003, 'u9002', '']]);
  });

  const messy = Buffer.from(
    '\uFEFFuser_id,device_id,note\r\nü1,d1,x\r\n\r\nu2,,"never\r\nclosed\r\nu3,d3,"a ""q"" b"\r\n   \r\n"u4\n,d5,"m\r\nl"\r\nu6,"x"y,z\r\nu7,d7',
  );

  it('gives the same items however the bytes are chunked', async () => {
    const whole = await read(messy);
    expect(seen(whole.items)).toEqual([
      [2, 'ü1', 'd1'],
      // The quote opened on line 4 is closed by the first one on line 6: a closing quote
      // followed by text. Reading goes on at line 5, a row of its own.
      [4, 'bad', expect.stringContaining('CSV_INVALID_CLOSING_QUOTE')],
      [5, 'closed', ''],
      [6, 'u3', 'd3'],
      [8, 'bad', expect.stringContaining('CSV_INVALID_CLOSING_QUOTE')],
      [9, '', 'd5'],
      [11, 'bad', expect.stringContaining('CSV_INVALID_CLOSING_QUOTE')],
      [12, 'u7', 'd7'],
    ]);
    for (const size of [1, 2, 3, 7]) expect((await read(messy, { chunk: size })).items).toEqual(whole.items);
  });

  it('a resume from any item end reads the same items after it (what a checkpoint relies on)', async () => {
    const whole = await read(messy);
    for (const [i, at] of whole.items.entries()) {
      if (at.end === undefined) continue;
      const rest = await read(messy, { opts: { resume: { offset: at.end, linesBefore: at.endFeeds!, header: whole.header } } });
      expect(rest.items, `resumed after line ${at.line}`).toEqual(whole.items.slice(i + 1));
    }
  });

  it('an unreadable header is exit 2', async () => {
    expect(await refused('user_id,"device_id\nu1,d1\n')).toMatch(/users\.csv: the header row \(line 1\) cannot be read: unterminated quote/);
  });
});

describe('an unreadable row on stdin, which cannot be read again', () => {
  it('a quote never closed: the error row says the rest of the input was lost', async () => {
    const { items } = await read('user_id\nu1\nu2,"abc\nu3\nu4\n', { stdin: true });
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', `${UNTERMINATED}; the rest of the input after line 3 could not be read either (stdin cannot be read again: give the file to --input to recover them)`],
    ]);
  });

  it('a quote on the last line: nothing else is said lost', async () => {
    expect(seen((await read('user_id\nu1\n"u2\n', { stdin: true })).items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', UNTERMINATED],
    ]);
  });

  it('goes on with what csv-parse reads after it, naming the lines lost in between', async () => {
    const { items } = await read('user_id,note\nu1,x\nu2,"abc\nu3,y\nu4,"z",w\nu5,ok\na"b,c\nu6,ok\n', { stdin: true });
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', expect.stringMatching(/CSV_INVALID_CLOSING_QUOTE\); lines 4 to 5 could not be read either/)],
      [6, 'u5', ''],
      [7, 'bad', 'unreadable row: a quote inside an unquoted field (INVALID_OPENING_QUOTE)'],
      [8, 'u6', ''],
    ]);
  });
});

describe('ragged rows, blank lines, odd ids', () => {
  it('accepts rows with too few or too many fields; a missing id cell is empty', async () => {
    const { items } = await read('email,user_id,device_id\na@x,u1\nb@x,u2,d2,extra,more\nc@x\nd@x,,d4\n');
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [3, 'u2', 'd2'],
      [4, 'bad', 'no user_id or device_id'],
      [5, '', 'd4'],
    ]);
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('skips blank and whitespace-only lines, keeping line numbers (%s)', async (_name, eol) => {
    const input = ['', '  ', 'user_id,device_id', 'u1,d1', '', ' \t ', 'u2,d2', '   ', ',', 'u3,d3', ''].join(eol);
    expect(seen((await read(input)).items)).toEqual([
      [4, 'u1', 'd1'],
      [7, 'u2', 'd2'],
      [9, 'bad', 'no user_id or device_id'], // a row of empty cells is a row, not a blank line
      [10, 'u3', 'd3'],
    ]);
  });

  it('splits rows on LF and CRLF in one file (rows appended by another tool)', async () => {
    expect(seen((await read('user_id,device_id\r\nu1,d1\nu2,d2\r\nu3,d3\n')).items)).toEqual([
      [2, 'u1', 'd1'],
      [3, 'u2', 'd2'],
      [4, 'u3', 'd3'],
    ]);
  });

  it('trims spaces around ids', async () => {
    expect(seen((await read('user_id,device_id\n u-1 ,\t d-1\t\n')).items)).toEqual([[2, 'u-1', 'd-1']]);
  });

  it('refuses an id with invalid UTF-8; invalid UTF-8 elsewhere in the row does not matter', async () => {
    const latin1 = Buffer.from('caf\xe9', 'latin1');
    const input = Buffer.concat([Buffer.from('user_id,device_id,name\nu1,,'), latin1, Buffer.from('\n'), latin1, Buffer.from(',,x\nu3,'), latin1, Buffer.from(',y\nu4,d4,z\n')]);
    const { items } = await read(input);
    expect(seen(items)).toEqual([
      [2, 'u1', ''],
      [3, 'bad', 'invalid UTF-8 in id'],
      [4, 'bad', 'invalid UTF-8 in id'],
      [5, 'u4', 'd4'],
    ]);
    expect(items[1]).toMatchObject({ user_id: 'caf\uFFFD' });
  });

  it('exports a row with a 1 MB cell; refuses an id over 1024 characters', async () => {
    const cell = 'n'.repeat(1024 * 1024);
    const astral = '😀'.repeat(1024); // 1024 characters, 2048 UTF-16 units
    const input = `user_id,note\nu1,${cell}\n${'a'.repeat(1024)},x\n${'a'.repeat(1025)},y\n${astral},z\n"u5",${cell}\n`;
    const { items } = await read(input, { chunk: 64 * 1024 });
    expect(items.map((i) => [i.line, i.kind === 'bad' ? i.reason : i.user_id.length])).toEqual([
      [2, 2],
      [3, 1024],
      [4, 'id longer than 1024 characters'],
      [5, 2048],
      [6, 2],
    ]);
    expect(items[0]).toMatchObject({ kind: 'user', fields: ['u1', cell] });
  });
});

describe('the header', () => {
  it('an empty file is exit 2; so is one of blank and whitespace-only lines', async () => {
    expect(await refused('')).toMatch(/users\.csv: the file is empty/);
    expect(await refused('\n  \r\n\t\n')).toMatch(/the file is empty/);
  });

  it('a header with no data: no items and one warning', async () => {
    const r = await read('user_id,device_id\n');
    expect(r.items).toEqual([]);
    expect(r.warnings).toEqual(['no users in the input {"input":"users.csv"}']);
  });

  it('rows with no usable id: the same warning', async () => {
    expect((await read('user_id\n,\n')).warnings).toEqual(['no users in the input {"input":"users.csv"}']);
  });

  it('an id column named twice: the first is used, with one warning naming it', async () => {
    const r = await read('user_id,email,user_id,email\nu1,a@x,other,b@x\nu2,c@x,,d@x\n');
    expect(seen(r.items)).toEqual([
      [2, 'u1', ''],
      [3, 'u2', ''],
    ]);
    expect(r.warnings).toEqual(['the header names user_id 2 times: using the first (column 1) {"column":"user_id","positions":[1,3]}']);
  });

  it('other names given twice are fine', async () => {
    expect((await read('user_id,x,x\nu1,1,2\n')).warnings).toEqual([]);
  });
});

describe('a file that is not CSV: exit 2 before the header is parsed', () => {
  const zeros = Buffer.alloc(100);
  it.each([
    ['gzip', Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), zeros]), /^users\.csv: gzip-compressed: decompress it first/],
    ['xlsx (zip)', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), zeros]), /^users\.csv: a zip file or a spreadsheet .*export it as CSV/],
    ['xls', Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), zeros]), /an Excel \.xls workbook/],
    ['UTF-16 with a BOM', Buffer.from('\uFEFFuser_id\nu1\n', 'utf16le'), /UTF-16 text/],
    ['binary (a NUL byte)', Buffer.from('user_id\nu1\n\0\x01\x02\n'), /not a CSV text file: a NUL byte at byte 11/],
    ['classic Mac line ends', Buffer.from('user_id\ru1\ru2\r'), /lines end in CR alone/],
  ])('%s', async (_name, input, message) => {
    for (const stdin of [false, true]) expect(await refused(input, { stdin })).toMatch(message);
  });

  it('names each kind in its message', () => {
    expect(notCsv(Buffer.from([0x1f, 0x8b]))).toMatch(/gzip-compressed: decompress it first/);
    expect(notCsv(Buffer.from('PK\x03\x04', 'latin1'))).toMatch(/spreadsheet.*export it as CSV/);
    expect(notCsv(Buffer.from('user_id\nu1\n'))).toBeNull();
    expect(notCsv(Buffer.from('user_id\r\nu1\r\n'))).toBeNull();
    expect(notCsv(Buffer.from('BZh_id\n'))).toBeNull(); // "BZh" alone is not bzip2
  });

  it('looks at the first 64 KiB only: after them, a NUL in a cell the output does not read is passed over', async () => {
    const rows = 'u1,x\n'.repeat(SNIFF_BYTES / 5 + 10);
    const { items } = await read(`user_id,note\n${rows}u9,a\0b\n`, { opts: { columns: [] } });
    expect(items.at(-1)).toMatchObject({ kind: 'user', user_id: 'u9', fields: ['u9'] });
  });
});
