import { describe, expect, it } from 'vitest';
import type { Profile } from '../../src/api/types.js';
import { CsvRows } from '../../src/output/csv.js';
import { zeroCounts } from '../../src/pipeline/counters.js';
import type { UserOutcome } from '../../src/pipeline/outcome.js';
import { OrderedWriter } from '../../src/pipeline/writer.js';
import type { Sink } from '../../src/sinks/sink.js';
import type { BadRow, UserRow } from '../../src/sources/csv.js';

/** A sink in memory; `fullEvery` makes it ask for a drain after that many writes. */
class MemorySink implements Sink {
  readonly name = 'memory';
  text = '';
  drains = 0;
  private writes = 0;
  constructor(
    private readonly startBytes = 0,
    private readonly fullEvery = 0,
  ) {}
  get bytes(): number {
    return this.startBytes + Buffer.byteLength(this.text);
  }
  get full(): boolean {
    return this.fullEvery > 0 && this.writes % this.fullEvery === 0 && this.writes > 0;
  }
  write(text: string): void {
    this.text += text;
    this.writes++;
  }
  async drain(): Promise<void> {
    this.drains++;
    this.writes = 0;
    await new Promise((r) => setImmediate(r));
  }
  async sync(): Promise<void> {}
  async close(): Promise<void> {}
}

const HEADER_END = 26;
const HEADER_FEEDS = 1;

const user = (i: number, user_id: string, device_id = ''): UserRow => ({
  kind: 'user',
  line: i + 2,
  user_id,
  device_id,
  fields: [user_id, device_id],
  end: HEADER_END + 10 * (i + 1),
  endFeeds: HEADER_FEEDS + i + 1,
});

const profile = (recIds: string[]): Profile => ({
  user_id: null,
  device_id: null,
  recommendations: recIds.map((rec_id) => ({ rec_id, child_rec_id: rec_id, items: ['ä', 'b'], is_control: false, recommendation_source: 'model', last_updated: 1 })),
  propensities: null,
  cohort_ids: null,
  amp_props: null,
});

const ok = (recIds = ['r1', 'r2']): UserOutcome => ({ status: 'ok', profile: profile(recIds), attempts: 1 });
const noRecs: UserOutcome = { status: 'no_recs', profile: profile([]), attempts: 1 };
const unknown: UserOutcome = { status: 'unknown_user', attempts: 2 };

/** Lets queued microtasks and a macrotask run, then waits for the writer to settle. */
async function settled(w: OrderedWriter): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await w.settle();
}

function setup(outStart = 0, fullEvery = 0) {
  const out = new MemorySink(outStart, fullEvery);
  const errors = new MemorySink();
  const rows = new CsvRows({ query: { recIds: ['r1', 'r2'], ampProps: false, cohortIds: false, computations: false, compIds: [], predictionIds: [] }, maxItems: 2, escapeFormulas: false });
  const writer = OrderedWriter.fresh(out, errors, rows, HEADER_END, HEADER_FEEDS);
  return { out, errors, writer, rows };
}

const userIds = (csv: string) =>
  csv
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',')[0]);

describe('OrderedWriter: order', () => {
  it('writes the header first, then outcomes in input order whatever order they were put in', async () => {
    const { out, writer } = setup();
    const items = ['a', 'b', 'c', 'd', 'e'].map((id, i) => user(i, id));
    for (const i of [3, 1, 4]) writer.put(i, items[i]!, ok(['r1']));
    await settled(writer);
    expect(userIds(out.text)).toEqual([]);
    expect(writer.written).toBe(0);
    expect(writer.backlog).toBe(3);

    writer.put(0, items[0]!, ok(['r1']));
    await settled(writer);
    expect(userIds(out.text)).toEqual(['a', 'a', 'b', 'b']);
    expect(writer.backlog).toBe(2);
    writer.put(2, items[2]!, ok(['r1']));
    await settled(writer);
    expect(out.text.startsWith('user_id,device_id,rec_id,is_control,recommendation_source,last_updated,item_1,item_2,status\n')).toBe(true);
    // Two rows per user (r1 asked, r2 missing from the answer).
    expect(userIds(out.text)).toEqual(['a', 'a', 'b', 'b', 'c', 'c', 'd', 'd', 'e', 'e']);
    expect(writer.written).toBe(5);
    expect(writer.backlog).toBe(0);
  });

  it('keeps input order when the sink asks for a drain after every write', async () => {
    const { out, writer } = setup(0, 1);
    const items = Array.from({ length: 20 }, (_, i) => user(i, `u${i}`));
    for (let i = items.length - 1; i >= 0; i--) writer.put(i, items[i]!, ok(['r1', 'r2']));
    await settled(writer);
    expect(userIds(out.text)).toEqual(items.flatMap((u) => [u.user_id, u.user_id]));
    expect(out.drains).toBeGreaterThan(0);
  });

  it('writes items put while the sink drains, in order', async () => {
    const { out, writer } = setup(0, 1);
    writer.put(0, user(0, 'a'), ok());
    // The pump is waiting for the drain now; these arrive meanwhile.
    await Promise.resolve();
    writer.put(2, user(2, 'c'), ok());
    writer.put(1, user(1, 'b'), ok());
    await settled(writer);
    await settled(writer);
    expect(userIds(out.text)).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
  });

  it('releases room() once enough earlier items are written', async () => {
    const { writer } = setup();
    let released = false;
    // Three items read; go on once fewer than two of them wait to be written.
    void writer.room(3, 2).then(() => (released = true));
    writer.put(2, user(2, 'c'), ok());
    await settled(writer);
    expect(released).toBe(false);
    writer.put(0, user(0, 'a'), ok());
    await settled(writer);
    expect(released).toBe(false);
    writer.put(1, user(1, 'b'), ok());
    await settled(writer);
    expect(released).toBe(true);
  });

  // Regression: the pump used to be marked as ended one microtask late, so an item put in that
  // window was never written and every later item waited behind it, while settle() resolved.
  it('writes an item put right after the previous one', async () => {
    const { out, writer } = setup();
    writer.put(0, user(0, 'a'), ok());
    writer.put(1, user(1, 'b'), ok());
    await settled(writer);
    writer.put(2, user(2, 'c'), ok());
    await settled(writer);
    expect(userIds(out.text)).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
    expect(writer.backlog).toBe(0);
  });
});

describe('OrderedWriter: position', () => {
  it('starts just past the header, with the header bytes counted', () => {
    const { out, writer } = setup();
    expect(writer.position()).toEqual({
      offset: HEADER_END,
      feeds: HEADER_FEEDS,
      line: 1,
      outputBytes: Buffer.byteLength(out.text),
      errorsBytes: 0,
      counts: zeroCounts(),
    });
    expect(out.text).toMatch(/^user_id,.*,status\n$/);
  });

  it('moves to each written item: its end, its line feeds, its line, counts and bytes', async () => {
    const { out, errors, writer } = setup();
    const items = [user(0, 'ä1'), user(1, 'u2'), user(2, 'u3')];
    const outcomes = [ok(), noRecs, unknown];
    const expected = [
      { users: 1, ok: 1, rows: 2 },
      { users: 2, ok: 1, no_recs: 1, rows: 3 },
      { users: 3, ok: 1, no_recs: 1, unknown_user: 1, rows: 4 },
    ];
    for (let i = 0; i < items.length; i++) {
      writer.put(i, items[i]!, outcomes[i]!);
      await settled(writer);
      expect(writer.position()).toEqual({
        offset: items[i]!.end,
        feeds: items[i]!.endFeeds,
        line: items[i]!.line,
        outputBytes: Buffer.byteLength(out.text),
        errorsBytes: 0,
        counts: { ...zeroCounts(), ...expected[i] },
      });
    }
    expect(errors.text).toBe('');
    // Bytes, not characters: each ä takes two.
    expect(writer.position().outputBytes).toBe(out.text.length + out.text.split('ä').length - 1);
    expect(out.text).toContain('ä');
  });

  it('does not move while the next item in order is missing', async () => {
    const { writer } = setup();
    writer.put(0, user(0, 'a'), ok());
    await settled(writer);
    const before = writer.position();
    writer.put(2, user(2, 'c'), ok());
    await settled(writer);
    expect(writer.position()).toEqual(before);
  });

  it('counts output bytes from the length a resumed sink was opened at', async () => {
    const out = new MemorySink(1000);
    const errors = new MemorySink(50);
    const rows = new CsvRows({ query: { recIds: [], ampProps: false, cohortIds: false, computations: false, compIds: [], predictionIds: [] }, maxItems: 0, escapeFormulas: false });
    const counts = { ...zeroCounts(), users: 7, ok: 7, rows: 7 };
    const writer = new OrderedWriter(out, errors, rows, { offset: 500, feeds: 8, line: 8, counts });
    expect(out.text).toBe('');
    expect(writer.position()).toEqual({ offset: 500, feeds: 8, line: 8, outputBytes: 1000, errorsBytes: 50, counts });
    writer.put(0, { ...user(0, 'u9'), line: 9, end: 510, endFeeds: 9 }, ok());
    await settled(writer);
    expect(out.text).toBe('u9,,ok\n');
    expect(writer.position()).toMatchObject({ offset: 510, feeds: 9, line: 9, outputBytes: 1007, errorsBytes: 50, counts: { users: 8, ok: 8, rows: 8 } });
    // The caller's counts are not changed behind its back.
    expect(counts.users).toBe(7);
  });
});

describe('OrderedWriter: errors', () => {
  it('sends a row without an id to the errors file with its line, and moves past it', async () => {
    const { out, errors, writer } = setup();
    const bad: BadRow = { kind: 'bad', line: 5, user_id: '', device_id: '', reason: 'no user_id or device_id', end: 77, endFeeds: 4 };
    writer.put(0, bad, null);
    await settled(writer);
    expect(errors.text).toBe(',,5,no user_id or device_id,,0\n');
    expect(userIds(out.text)).toEqual([]);
    expect(writer.position()).toMatchObject({ offset: 77, feeds: 4, line: 5, errorsBytes: Buffer.byteLength(errors.text), counts: { ...zeroCounts(), skipped: 1 } });
  });

  it('records an unreadable row (no end) by its line without moving the input offset', async () => {
    const { errors, writer } = setup();
    writer.put(0, user(0, 'a'), ok());
    await settled(writer);
    const bad: BadRow = { kind: 'bad', line: 3, user_id: '', device_id: '', reason: 'unreadable row: INVALID_OPENING_QUOTE' };
    writer.put(1, bad, null);
    await settled(writer);
    expect(errors.text).toBe(',,3,unreadable row: INVALID_OPENING_QUOTE,,0\n');
    expect(writer.position()).toMatchObject({ offset: user(0, 'a').end, feeds: user(0, 'a').endFeeds, line: 3, counts: { users: 1, ok: 1, skipped: 1 } });
  });

  it('sends a failed user to the errors file with reason, http status and attempts, and no output row', async () => {
    const { out, errors, writer } = setup();
    const headerOnly = out.text;
    const failures: UserOutcome[] = [
      { status: 'failed', reason: 'server error 503; gave up after 7 attempts', httpStatus: 503, attempts: 7 },
      { status: 'failed', reason: 'timeout; gave up after 3 attempts', httpStatus: null, attempts: 3 },
      { status: 'failed', reason: '400 {"error":"bad, id"}', httpStatus: 400, attempts: 1 },
    ];
    const users = [user(0, 'u1', 'd1'), user(1, '', 'd2'), user(2, 'u3')];
    for (let i = 0; i < users.length; i++) {
      writer.put(i, users[i]!, failures[i]!);
      await settled(writer);
    }
    expect(errors.text).toBe(
      'u1,d1,2,server error 503; gave up after 7 attempts,503,7\n' + ',d2,3,timeout; gave up after 3 attempts,,3\n' + 'u3,,4,"400 {""error"":""bad, id""}",400,1\n',
    );
    expect(writer.position().counts).toMatchObject({ users: 3, failed: 3, ok: 0, rows: 0 });
    expect(out.text).toBe(headerOnly);
    expect(writer.position().errorsBytes).toBe(Buffer.byteLength(errors.text));
  });

  it('counts every status', async () => {
    const { writer } = setup();
    const bad: BadRow = { kind: 'bad', line: 99, user_id: '', device_id: '', reason: 'no user_id or device_id', end: 999, endFeeds: 98 };
    const outcomes: Array<UserOutcome | null> = [ok(), ok(['r1']), noRecs, unknown, { status: 'failed', reason: 'x', httpStatus: 500, attempts: 7 }, null];
    for (let i = 0; i < outcomes.length; i++) {
      writer.put(i, outcomes[i] ? user(i, `u${i}`) : bad, outcomes[i]!);
      await settled(writer);
    }
    expect(writer.position().counts).toEqual({ users: 5, ok: 2, no_recs: 1, unknown_user: 1, failed: 1, skipped: 1, rows: 2 + 2 + 1 + 1 });
  });
});
