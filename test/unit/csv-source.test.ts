import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExitError } from '../../src/errors.js';
import { type CsvSourceOptions, openCsvSource, type SourceItem } from '../../src/sources/csv.js';

const OPTS: CsvSourceOptions = { userIdColumn: 'user_id', deviceIdColumn: 'device_id', name: 'users.csv' };

/** A file built from its physical pieces, so the test knows each record's byte end. */
function file(...pieces: string[]) {
  const buf = Buffer.from(pieces.join(''));
  /** Byte length of the file up to and including piece `i`. */
  const endOf = (i: number) => Buffer.byteLength(pieces.slice(0, i + 1).join(''));
  return { buf, endOf };
}

async function read(buf: Buffer, opts: Partial<CsvSourceOptions> = {}, chunkSize?: number) {
  const chunks: Buffer[] = [];
  if (chunkSize === undefined) chunks.push(buf);
  else for (let i = 0; i < buf.length; i += chunkSize) chunks.push(buf.subarray(i, i + chunkSize));
  const src = await openCsvSource(Readable.from(chunks), { ...OPTS, ...opts });
  const items: SourceItem[] = [];
  for await (const item of src.rows) items.push(item);
  return { header: src.header, headerEnd: src.headerEnd, headerFeeds: src.headerFeeds, items };
}

/** What a user of the errors file and the output sees of an item. */
const seen = (items: SourceItem[]) => items.map((i) => ({ kind: i.kind, line: i.line, user_id: i.user_id, device_id: i.device_id }));

async function openError(buf: Buffer, opts: Partial<CsvSourceOptions> = {}): Promise<ExitError> {
  const err = await read(buf, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExitError);
  expect((err as ExitError).exitCode).toBe(2);
  expect((err as ExitError).message).not.toContain('\n');
  return err as ExitError;
}

describe('openCsvSource: header and ids', () => {
  it('reads the header and one user per record', async () => {
    const { header, items } = await read(Buffer.from('user_id,device_id\nu1,d1\nu2,d2\n'));
    expect(header).toEqual(['user_id', 'device_id']);
    expect(seen(items)).toEqual([
      { kind: 'user', line: 2, user_id: 'u1', device_id: 'd1' },
      { kind: 'user', line: 3, user_id: 'u2', device_id: 'd2' },
    ]);
  });

  it('finds the id columns anywhere in the header, whatever else is there', async () => {
    const { items } = await read(Buffer.from('email,device_id,plan,user_id\na@x,d1,pro,u1\n'));
    expect(seen(items)).toEqual([{ kind: 'user', line: 2, user_id: 'u1', device_id: 'd1' }]);
    expect(items[0]).toMatchObject({ fields: ['a@x', 'd1', 'pro', 'u1'] });
  });

  it('skips a UTF-8 BOM, so the first column is still found', async () => {
    const { header, items } = await read(Buffer.from('\uFEFFuser_id,device_id\nu1,d1\n'));
    expect(header).toEqual(['user_id', 'device_id']);
    expect(seen(items)).toEqual([{ kind: 'user', line: 2, user_id: 'u1', device_id: 'd1' }]);
  });

  it('trims header names', async () => {
    const { header, items } = await read(Buffer.from(' user_id , device_id\nu1,d1\n'));
    expect(header).toEqual(['user_id', 'device_id']);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ user_id: 'u1', device_id: 'd1' });
  });

  it('reads CRLF line ends without leaving \\r in the last field', async () => {
    const { header, items } = await read(Buffer.from('user_id,device_id\r\nu1,d1\r\nu2,d2\r\n'));
    expect(header).toEqual(['user_id', 'device_id']);
    expect(seen(items)).toEqual([
      { kind: 'user', line: 2, user_id: 'u1', device_id: 'd1' },
      { kind: 'user', line: 3, user_id: 'u2', device_id: 'd2' },
    ]);
  });

  it('keeps commas and newlines inside quoted fields, and "" as a quote', async () => {
    const { items } = await read(Buffer.from('user_id,device_id\n"a,b","d\n1"\n"say ""hi""",d2\n'));
    expect(seen(items)).toEqual([
      { kind: 'user', line: 2, user_id: 'a,b', device_id: 'd\n1' },
      { kind: 'user', line: 4, user_id: 'say "hi"', device_id: 'd2' },
    ]);
  });

  it('keeps rows with more columns than the header', async () => {
    const { items } = await read(Buffer.from('user_id,device_id\nu1,d1,extra,more\n'));
    expect(items[0]).toMatchObject({ kind: 'user', user_id: 'u1', device_id: 'd1', fields: ['u1', 'd1', 'extra', 'more'] });
  });

  it('reads rows with fewer columns than the header: missing cells are empty', async () => {
    const { items } = await read(Buffer.from('email,user_id,device_id\na@x,u1\nb@x\n'));
    expect(items[0]).toMatchObject({ kind: 'user', line: 2, user_id: 'u1', device_id: '' });
    expect(items[1]).toMatchObject({ kind: 'bad', line: 3, user_id: '', device_id: '' });
  });

  it('trims spaces around ids', async () => {
    const { items } = await read(Buffer.from('user_id,device_id\n  u1 , d1\t\n" u2 ",\n'));
    expect(seen(items)).toEqual([
      { kind: 'user', line: 2, user_id: 'u1', device_id: 'd1' },
      { kind: 'user', line: 3, user_id: 'u2', device_id: '' },
    ]);
  });

  it('reads device-only rows and a device-only file', async () => {
    expect(seen((await read(Buffer.from('user_id,device_id\n,d1\n'))).items)).toEqual([{ kind: 'user', line: 2, user_id: '', device_id: 'd1' }]);
    expect(seen((await read(Buffer.from('device_id\nd1\nd2\n'))).items)).toEqual([
      { kind: 'user', line: 2, user_id: '', device_id: 'd1' },
      { kind: 'user', line: 3, user_id: '', device_id: 'd2' },
    ]);
  });

  it('reads a user-only file', async () => {
    expect(seen((await read(Buffer.from('user_id\nu1\n'))).items)).toEqual([{ kind: 'user', line: 2, user_id: 'u1', device_id: '' }]);
  });

  it('gives a row with neither id as a bad item with its line and a reason naming the columns', async () => {
    const { items } = await read(Buffer.from('user_id,device_id,email\nu1,d1,a@x\n,,b@x\n  ,\t,c@x\nu4,,d@x\n'));
    expect(seen(items)).toEqual([
      { kind: 'user', line: 2, user_id: 'u1', device_id: 'd1' },
      { kind: 'bad', line: 3, user_id: '', device_id: '' },
      { kind: 'bad', line: 4, user_id: '', device_id: '' },
      { kind: 'user', line: 5, user_id: 'u4', device_id: '' },
    ]);
    expect(items[1]).toMatchObject({ reason: 'no user_id or device_id' });
  });

  it('uses renamed id columns', async () => {
    const { items } = await read(Buffer.from('uid,did,user_id\nu1,d1,ignored\n,,x\n'), { userIdColumn: 'uid', deviceIdColumn: 'did' });
    expect(seen(items)).toEqual([
      { kind: 'user', line: 2, user_id: 'u1', device_id: 'd1' },
      { kind: 'bad', line: 3, user_id: '', device_id: '' },
    ]);
    expect(items[1]).toMatchObject({ reason: 'no uid or did' });
  });

  it('refuses a header without an id column (exit 2), naming the columns it looked for and found', async () => {
    const e = await openError(Buffer.from('email,name\na@x,A\n'));
    expect(e.message).toContain('users.csv');
    expect(e.message).toContain('user_id');
    expect(e.message).toContain('device_id');
    expect(e.message).toContain('email,name');
  });

  it('names the renamed columns when they are missing', async () => {
    const e = await openError(Buffer.from('user_id,device_id\nu1,d1\n'), { userIdColumn: 'uid', deviceIdColumn: 'did' });
    expect(e.message).toMatch(/no uid or did column/);
    expect(e.message).toContain('user_id,device_id');
  });

  it('refuses an empty file (exit 2)', async () => {
    const e = await openError(Buffer.alloc(0));
    expect(e.message).toContain('users.csv');
    expect(e.message).toMatch(/empty/);
  });

  it('refuses a file of blank lines as empty (exit 2)', async () => {
    expect((await openError(Buffer.from('\n\n\n'))).message).toMatch(/empty/);
    expect((await openError(Buffer.from('\r\n\r\n'))).message).toMatch(/empty/);
  });

  it('gives no items for a header-only file', async () => {
    const { header, items, headerEnd } = await read(Buffer.from('user_id,device_id\n'));
    expect(header).toEqual(['user_id', 'device_id']);
    expect(headerEnd).toBe(18);
    expect(items).toEqual([]);
  });
});

describe('openCsvSource: line numbers (the physical line a record starts on, header = 1)', () => {
  it('counts CRLF line ends once', async () => {
    const { items } = await read(Buffer.from('user_id\r\nu1\r\nu2\r\nu3\r\n'));
    expect(items.map((i) => i.line)).toEqual([2, 3, 4]);
  });

  it('counts every line of a multi-line quoted field before the record', async () => {
    const { items } = await read(Buffer.from('user_id,note\nu1,"a\nb\nc"\nu2,x\nu3,"\n"\nu4,y\n'));
    expect(seen(items).map((i) => [i.user_id, i.line])).toEqual([
      ['u1', 2],
      ['u2', 5],
      ['u3', 6],
      ['u4', 8],
    ]);
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('counts blank lines before the record (%s)', async (_name, eol) => {
    const { items } = await read(Buffer.from(['user_id', '', 'u1', '', '', 'u2', '', 'u3', ''].join(eol)));
    expect(seen(items).map((i) => [i.user_id, i.line])).toEqual([
      ['u1', 3],
      ['u2', 6],
      ['u3', 8],
    ]);
  });

  it('counts a multi-line quoted field with CRLF inside a CRLF file', async () => {
    const { items } = await read(Buffer.from('user_id,note\r\nu1,"a\r\nb\r\n"\r\nu2,x\r\n'));
    expect(seen(items).map((i) => [i.user_id, i.line])).toEqual([
      ['u1', 2],
      ['u2', 5],
    ]);
  });

  it('counts blank lines before the header', async () => {
    const { header, items, headerEnd, headerFeeds } = await read(Buffer.from('\n\nuser_id\nu1\n'));
    expect(header).toEqual(['user_id']);
    expect(items.map((i) => i.line)).toEqual([4]);
    expect([headerEnd, headerFeeds]).toEqual([10, 3]);
  });

  it('counts a multi-line quoted field in the header', async () => {
    const { items, headerFeeds } = await read(Buffer.from('"user_id","a\nlong\nname"\nu1,x\n'));
    expect(items.map((i) => i.line)).toEqual([4]);
    expect(headerFeeds).toBe(3);
  });

  it('gives the line of a record that has no id after multi-line and blank lines', async () => {
    const { items } = await read(Buffer.from('user_id,device_id,note\r\nu1,,"x\r\ny"\r\n\r\n,,z\r\n'));
    expect(seen(items)).toEqual([
      { kind: 'user', line: 2, user_id: 'u1', device_id: '' },
      { kind: 'bad', line: 5, user_id: '', device_id: '' },
    ]);
  });

  it('gives the same lines however the bytes are chunked', async () => {
    const buf = Buffer.from('\uFEFFuser_id,note\r\nü1,"a\r\nb"\r\n\r\n用户2,c\r\n,\r\nu4,"d,e"\r\n');
    const whole = await read(buf);
    expect(seen(whole.items).map((i) => i.line)).toEqual([2, 5, 6, 7]);
    for (const size of [1, 2, 3, 5]) {
      const chunked = await read(buf, {}, size);
      expect(chunked.items).toEqual(whole.items);
      expect(chunked.headerEnd).toBe(whole.headerEnd);
    }
  });

  it('gives an unreadable row as a bad item and goes on', async () => {
    const { items } = await read(Buffer.from('user_id\nu1\nu2\na"b\nu4\nu5\n'));
    expect(items.filter((i) => i.kind === 'bad')).toEqual([expect.objectContaining({ kind: 'bad', reason: expect.stringMatching(/^unreadable row: /) })]);
    expect(items.filter((i) => i.kind === 'user').map((i) => i.user_id)).toEqual(['u1', 'u2', 'u4', 'u5']);
  });

  // BUG (src/sources/csv.ts): csv-parse parses ahead of the consumer, so `on_skip` runs while
  // `lastEnd` still points at an earlier record (here: before the header was even returned).
  // The unreadable row on line 4 is reported on line 2 and yielded before u1 and u2.
  it('puts an unreadable row in input order, on the line it starts on', async () => {
    const { items } = await read(Buffer.from('user_id\nu1\nu2\na"b\nu4\nu5\n'));
    expect(items.map((i) => [i.kind, i.line])).toEqual([
      ['user', 2],
      ['user', 3],
      ['bad', 4],
      ['user', 5],
      ['user', 6],
    ]);
  });

  // BUG (src/sources/csv.ts): the record after a skipped one starts from `lastEnd`, which never
  // moved past the skipped record, so u4 (line 5) is reported on line 4, the unreadable row's.
  it('gives the row after an unreadable one its own line', async () => {
    const { items } = await read(Buffer.from('user_id\nu1\nu2\na"b\nu4\nu5\n'));
    expect(items.filter((i) => i.kind === 'user').map((i) => [i.user_id, i.line])).toEqual([
      ['u1', 2],
      ['u2', 3],
      ['u4', 5],
      ['u5', 6],
    ]);
  });

  // Without a way to reread (stdin), the rows a stray quote swallowed cannot be recovered; the
  // error row must say which lines were lost and how to get them (a file can be reread: see
  // test/unit/csv-hostile.test.ts for the recovery).
  it('on stdin, reports the lines a stray quote swallowed instead of losing them silently', async () => {
    const { items } = await read(Buffer.from('user_id\nu1\nu2\n"a"b\nu4\nu5\n'));
    expect(items.filter((i) => i.kind === 'user').map((i) => i.user_id)).toEqual(['u1', 'u2']);
    const bad = items.filter((i) => i.kind === 'bad');
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ line: 4 });
    expect((bad[0] as { reason: string }).reason).toMatch(/the rest of the input after line 4 .*give the file to --input/);
  });
});

describe('openCsvSource: byte offsets', () => {
  it('ends each item just past its record line end, BOM, CRLF, multi-byte and blank lines included', async () => {
    const pieces = ['\uFEFF', 'user_id,device_id\r\n', 'ü1,d1\r\n', '\r\n', '"u,2","用\r\n户"\r\n', ',\r\n', 'u5,d5,extra\r\n', 'u6'];
    const { buf, endOf } = file(...pieces);
    const { headerEnd, items } = await read(buf);
    expect(headerEnd).toBe(endOf(1));
    expect(items.map((i) => [i.user_id, i.end])).toEqual([
      ['ü1', endOf(2)],
      ['u,2', endOf(4)],
      ['', endOf(5)],
      ['u5', endOf(6)],
      ['u6', buf.length],
    ]);
  });

  it('counts the line feeds before each end', async () => {
    const { buf } = file('user_id,note\n', 'u1,"a\nb"\n', '\n', 'u2,c\n', 'u3,d');
    const { items } = await read(buf);
    const feedsBefore = (end: number) => buf.subarray(0, end).filter((b) => b === 10).length;
    for (const item of items) expect(item.endFeeds).toBe(feedsBefore(item.end!));
    expect(items.map((i) => i.endFeeds)).toEqual([3, 5, 5]);
  });
});

describe.each([
  ['CRLF with a BOM', '\r\n', '\uFEFF'],
  ['LF', '\n', ''],
])('openCsvSource: resume (%s)', (_name, eol, bom) => {
  const { buf } = file(
    bom,
    `user_id,device_id,note${eol}`,
    `ü1,d1,x${eol}`,
    eol,
    `u2,,"multi${eol}line"${eol}`,
    `,,no id${eol}`,
    eol,
    `"u,4",d4${eol}`,
    `用户5,,"a${eol}b${eol}c"${eol}`,
    `,d6,${eol}`,
    'u7,d7',
  );

  it('reads the rest of the file from any item end with the same lines, ids and offsets', async () => {
    const full = await read(buf);
    expect(seen(full.items).map((i) => [i.kind, i.line])).toEqual([
      ['user', 2],
      ['user', 4],
      ['bad', 6],
      ['user', 8],
      ['user', 9],
      ['user', 12],
      ['user', 13],
    ]);
    for (let i = 0; i < full.items.length; i++) {
      const at = full.items[i]!;
      const rest = await read(buf.subarray(at.end!), { resume: { offset: at.end!, linesBefore: at.endFeeds!, header: full.header } });
      expect(rest.header).toEqual(full.header);
      expect(rest.items).toEqual(full.items.slice(i + 1));
    }
  });

  it('reads everything from just past the header (a checkpoint taken before any user was written)', async () => {
    const full = await read(buf);
    expect(full.headerFeeds).toBe(buf.subarray(0, full.headerEnd).filter((b) => b === 10).length);
    const rest = await read(buf.subarray(full.headerEnd), { resume: { offset: full.headerEnd, linesBefore: full.headerFeeds, header: full.header } });
    expect(rest.items).toEqual(full.items);
  });

  it('uses the header saved in the checkpoint to find the id columns', async () => {
    const full = await read(buf);
    const at = full.items[0]!;
    const rest = await read(buf.subarray(at.end!), { resume: { offset: at.end!, linesBefore: at.endFeeds!, header: ['device_id', 'user_id', 'note'] } });
    // Columns swapped in the saved header: the first cell is now read as the device id.
    expect(rest.items[0]).toMatchObject({ user_id: '', device_id: 'u2' });
  });
});
