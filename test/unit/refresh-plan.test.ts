import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { budgetRequests, nightsForFullRefresh, parseBudget, parseDuration, plannedUsers, retryReserve, splitRefresh } from '../../src/budget.js';
import { FETCHED_AT_MARK, rowCount, stampRows } from '../../src/output/fetched-at.js';
import { buildConfig, type ExportArgs } from '../../src/config.js';
import { exportDefaults } from '../../src/flags.js';
import { sqliteWriteError, StateDb } from '../../src/state/db.js';
import { ExitError } from '../../src/errors.js';
import { PlanStopped, planRefresh, plannedFetch } from '../../src/state/refresh.js';

const dir = mkdtempSync(join(tmpdir(), 'ape-refresh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--refresh-budget and --max-age arithmetic', () => {
  it('reads requests or a duration, and refuses anything else', () => {
    expect(parseBudget('50000')).toEqual({ requests: 50_000 });
    expect(parseBudget('6h')).toEqual({ ms: 6 * 3_600_000 });
    expect(parseBudget('1h30m')).toEqual({ ms: 90 * 60_000 });
    expect(parseBudget('0')).toMatch(/at least 1 request/);
    expect(parseBudget('6 hours')).toMatch(/a number of requests \(50000\) or a duration \(90m, 6h\), got 6 hours/);
    expect(parseDuration('3d')).toBe(3 * 86_400_000);
    expect(parseDuration('-1h')).toBeUndefined();
  });

  it('turns a duration into the requests the rate limit allows, shared by the shards', () => {
    // 600 a minute for 8 hours: 288,000 requests; three shards share the org's limit.
    expect(budgetRequests({ ms: 8 * 3_600_000 }, { limit: 600, intervalMs: 60_000 }, 1)).toBe(288_000);
    expect(budgetRequests({ ms: 8 * 3_600_000 }, { limit: 600, intervalMs: 60_000 }, 3)).toBe(96_000);
    expect(budgetRequests({ requests: 500 }, { limit: 600, intervalMs: 60_000 }, 3)).toBe(500);
    expect(budgetRequests({ ms: 1000 }, { limit: 0, intervalMs: 60_000 }, 1)).toBeNull();
  });

  it('a duration budget is divided among the shards that share the rate limit', () => {
    const cfg = (over: Partial<ExportArgs>) => buildConfig({ ...exportDefaults(), input: 'u.csv', output: 'out-{shard}.csv', state: 's-{shard}.sqlite', ...over } as ExportArgs, new Date(), {});
    expect(cfg({ refreshBudget: '8h' }).state).toMatchObject({ budget: 288_000, maxAgeMs: null });
    expect(cfg({ refreshBudget: '8h', shard: '1/3' }).state!.budget).toBe(96_000);
    expect(cfg({ refreshBudget: '1000', shard: '1/3' }).state!.budget).toBe(1000);
    expect(cfg({ maxAge: '3d' }).state).toMatchObject({ budget: null, maxAgeMs: 3 * 86_400_000 });
  });

  it('keeps 5 % for retries from a budget of 20 up, none below', () => {
    expect([retryReserve(19), retryReserve(20), retryReserve(288_000)]).toEqual([0, 1, 14_400]);
    expect(plannedUsers(288_000)).toBe(273_600);
    expect(plannedUsers(3)).toBe(3);
  });

  it('never-fetched users first, then the stale ones, the rest carried or not fetched', () => {
    expect(splitRefresh({ users: 10, never: 7, stale: 3 }, 3)).toEqual({ never: 3, stale: 0, carried: 3, notFetched: 4 });
    expect(splitRefresh({ users: 10, never: 1, stale: 9 }, 3)).toEqual({ never: 1, stale: 2, carried: 7, notFetched: 0 });
    // --max-age alone: every stale user, none of the fresh ones.
    expect(splitRefresh({ users: 10, never: 0, stale: 4 }, null)).toEqual({ never: 0, stale: 4, carried: 6, notFetched: 0 });
    expect(nightsForFullRefresh(3_000_000, 288_000)).toBe(11);
    expect(nightsForFullRefresh(3_000_000, 864_000)).toBe(4);
  });
});

describe('fetched_at in rendered rows', () => {
  it('is put in on the way out, in CSV and in JSONL, empty or null when there is no time', () => {
    const at = Date.parse('2026-12-05T02:00:00.789Z');
    const csv = `u1,,a,${FETCHED_AT_MARK},ok\nu1,,b,${FETCHED_AT_MARK},ok\n`;
    expect(stampRows(csv, 'csv', at)).toBe('u1,,a,2026-12-05T02:00:00Z,ok\nu1,,b,2026-12-05T02:00:00Z,ok\n');
    expect(stampRows(csv, 'csv', null)).toBe('u1,,a,,ok\nu1,,b,,ok\n');
    const json = `${JSON.stringify({ user_id: 'u1', fetched_at: FETCHED_AT_MARK, status: 'ok' })}\n`;
    expect(JSON.parse(stampRows(json, 'jsonl', at))).toEqual({ user_id: 'u1', fetched_at: '2026-12-05T02:00:00Z', status: 'ok' });
    expect(JSON.parse(stampRows(json, 'jsonl', null)).fetched_at).toBeNull();
  });

  it('counts the rows of a stored user, a line feed inside a quoted cell included', () => {
    expect(rowCount('a,b\nc,d\n', 'csv')).toBe(2);
    expect(rowCount('"a\nb",c\nd,e\n', 'csv')).toBe(2);
    expect(rowCount('{"a":"x\\ny"}\n', 'jsonl')).toBe(1);
    expect(rowCount('', 'csv')).toBe(0);
  });
});

/** A real state file holding `users` (key u:<id>) fetched at the given times. */
async function stateWith(name: string, users: Array<[string, number]>) {
  const st = await StateDb.open(join(dir, `${name}.sqlite`));
  const put = st.db.prepare('INSERT INTO users (key, hash, fetched_at, rows) VALUES (?, ?, ?, ?)');
  for (const [id, at] of users) put.run(`u:${id}`, Buffer.alloc(16), at, `${id},,${FETCHED_AT_MARK},ok\n`);
  return st;
}

/** Users `ids` on lines 2, 3, …, in batches of 50, as the source hands them over. */
async function* input(ids: string[]) {
  const rows = ids.map((id, i) => ({ user_id: id, device_id: '', line: i + 2 }));
  for (let i = 0; i < rows.length; i += 50) yield rows.slice(i, i + 50);
}

const row = (id: string, line: number) => ({ user_id: id, device_id: '', line });

describe('planRefresh (a real SQLite state)', () => {
  it('refreshes never-fetched users in input order, then the least recently fetched, ties in input order', async () => {
    const st = await stateWith('order', [['a', 300], ['b', 100], ['c', 100], ['d', 200]]);
    try {
      const ids = ['a', 'b', 'new1', 'c', 'd', 'new2', 'new3'];
      const plan = await planRefresh(st, input(ids), { planned: 4, freshAfter: null, reset: false });
      expect(plan.counts).toEqual({ users: 7, never: 3, stale: 4 });
      expect(plan.split).toEqual({ never: 3, stale: 1, carried: 3, notFetched: 0 });
      const refreshed = ids.filter((id, i) => plan.decide(row(id, i + 2)) === 'refresh');
      // new1..3, then b (fetched at 100, before c at the same time in input order).
      expect(refreshed).toEqual(['b', 'new1', 'new2', 'new3']);
      expect(plan.decide(row('a', 2))).toEqual({ status: 'carried', rows: `a,,${FETCHED_AT_MARK},ok\n`, fetchedAt: 300 });
      expect(plan.oldestCarried).toBe(100); // c
    } finally {
      st.close();
    }
  });

  it('a budget below the never-fetched users leaves the rest not_fetched; --max-age carries the fresh ones; a duplicate is refreshed once', async () => {
    const st = await stateWith('age', [['old', 100], ['fresh', 900]]);
    try {
      const small = await planRefresh(st, input(['n1', 'n2', 'old', 'n3']), { planned: 2, freshAfter: null, reset: false });
      expect(small.decide(row('n3', 5))).toEqual({ status: 'not_fetched' });
      expect(small.decide(row('old', 4))).toMatchObject({ status: 'carried', fetchedAt: 100 });
      const aged = await planRefresh(st, input(['old', 'fresh', 'old']), { planned: null, freshAfter: 500, reset: false });
      expect(aged.split).toEqual({ never: 0, stale: 1, carried: 1, notFetched: 0 });
      expect(aged.decide(row('fresh', 3))).toMatchObject({ status: 'carried', fetchedAt: 900 });
      // The same user at lines 2 and 4: asked once a night, at its last line (an email tool that
      // upserts keeps the last row); the earlier line gets what the state holds.
      expect(aged.decide(row('old', 2))).toMatchObject({ status: 'carried', fetchedAt: 100 });
      expect(aged.decide(row('old', 4))).toBe('refresh');
      const reset = await planRefresh(st, input(['old', 'fresh', 'n1']), { planned: 2, freshAfter: null, reset: true });
      expect(reset.split).toEqual({ never: 2, stale: 0, carried: 0, notFetched: 1 });
      expect(reset.decide(row('n1', 4))).toEqual({ status: 'not_fetched' });
    } finally {
      st.close();
    }
  });

  it('a user the budget ran out on is carried, or not fetched when the state never had it', async () => {
    const st = await stateWith('spent', [['old', 100]]);
    try {
      const plan = await planRefresh(st, input(['old', 'n1']), { planned: 2, freshAfter: null, reset: false });
      const fetch = plannedFetch(plan, async () => ({ status: 'budget_spent' as const, attempts: 1 }));
      const signal = new AbortController().signal;
      expect(await fetch(row('old', 2), signal)).toMatchObject({ status: 'carried', fetchedAt: 100 });
      expect(await fetch(row('n1', 3), signal)).toEqual({ status: 'not_fetched' });
    } finally {
      st.close();
    }
  });

  it('walked in input order (the run reads its plan in step), it answers as asked line by line in any order', async () => {
    // 2,500 users over several batches of the plan's reads: fetched at 1..7, every fifth never,
    // some listed two or three times, a budget that reaches part of them.
    const known: Array<[string, number]> = [];
    for (let i = 0; i < 2500; i++) if (i % 5 !== 0) known.push([`k${i}`, 1 + (i % 7)]);
    const st = await stateWith('walk', known);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 2500; i++) ids.push(`k${(i * 7919) % 2500}`);
      for (let i = 0; i < 40; i++) ids.splice(60 * i + 30, 0, ids[25 * i]!);
      const plan = await planRefresh(st, input(ids), { planned: 900, freshAfter: null, reset: false });
      const inOrder = ids.map((id, i) => plan.decide(row(id, i + 2)));
      // The state's hash of each user asked, read with the plan: null for a never-fetched one.
      // (Users listed once: the later line of one listed twice is looked up on its own.)
      const askedKeys = ids.filter((id, i) => inOrder[i] === 'refresh' && ids.indexOf(id) === ids.lastIndexOf(id)).map((id) => `u:${id}`);
      const never = askedKeys.find((k) => Number(k.slice(3)) % 5 === 0)!;
      const knownKey = askedKeys.findLast((k) => Number(k.slice(3)) % 5 !== 0)!;
      expect(plan.takeHash(never)).toBeNull();
      expect(plan.takeHash(knownKey)).toEqual(Buffer.alloc(16));
      // Taken in order: the users before the one taken were written (or failed) since.
      expect(askedKeys.slice(0, askedKeys.indexOf(knownKey) + 1).map((k) => plan.takeHash(k))).toEqual(askedKeys.slice(0, askedKeys.indexOf(knownKey) + 1).map(() => undefined));
      expect(plan.takeHash('u:nobody')).toBeUndefined();
      // Backwards, every answer comes from look-ups of its own line.
      const oneByOne = new Array<unknown>(ids.length);
      for (let i = ids.length - 1; i >= 0; i--) oneByOne[i] = plan.decide(row(ids[i]!, i + 2));
      expect(inOrder).toEqual(oneByOne);
      // Each user asked once at most, 900 of them.
      const asked = ids.filter((_, i) => inOrder[i] === 'refresh');
      expect([asked.length, new Set(asked).size]).toEqual([900, 900]);
      // Not fetched: only an earlier line of a never-fetched user listed more than once (asked at its last).
      const notFetched = ids.flatMap((id, i) => (typeof inOrder[i] === 'object' && (inOrder[i] as { status: string }).status === 'not_fetched' ? [[id, i] as const] : []));
      expect(notFetched.length).toBeGreaterThan(0);
      for (const [id, i] of notFetched) expect(Number(id.slice(1)) % 5 === 0 && ids.lastIndexOf(id) > i).toBe(true);
    } finally {
      st.close();
    }
  });

  it('an input that fails while the plan reads it: the error as it came, the state left usable', async () => {
    const st = await stateWith('broken', [['a', 1]]);
    try {
      async function* breaks() {
        yield* input(Array.from({ length: 250 }, (_, i) => `u${i}`));
        throw new Error('the input object was replaced mid-read');
      }
      await expect(planRefresh(st, breaks(), { planned: 10, freshAfter: null, reset: false })).rejects.toThrow('the input object was replaced mid-read');
      expect(st.db.inTransaction).toBe(false);
      const plan = await planRefresh(st, input(['a', 'n1']), { planned: 1, freshAfter: null, reset: false });
      expect(plan.counts).toEqual({ users: 2, never: 1, stale: 1 });
      expect(plan.decide(row('n1', 3))).toBe('refresh');
    } finally {
      st.close();
    }
  });

  it('a stop signal while the plan reads: PlanStopped at the next batch, how many were read, the state left usable', async () => {
    const st = await stateWith('stopped', [['a', 1]]);
    try {
      const stop = new AbortController();
      async function* stoppedAt250() {
        let n = 0;
        for await (const batch of input(Array.from({ length: 1000 }, (_, i) => `u${i}`))) {
          if (n === 250) stop.abort('SIGTERM');
          n += batch.length;
          yield batch;
        }
      }
      const err = await planRefresh(st, stoppedAt250(), { planned: 10, freshAfter: null, reset: false, stop: stop.signal }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(PlanStopped);
      expect((err as PlanStopped).usersRead).toBe(250);
      expect(st.db.inTransaction).toBe(false);
      // Already stopped before it starts: not a user read.
      await expect(planRefresh(st, input(['a']), { planned: 1, freshAfter: null, reset: false, stop: stop.signal })).rejects.toMatchObject({ usersRead: 0 });
      const plan = await planRefresh(st, input(['a', 'n1']), { planned: 1, freshAfter: null, reset: false, stop: new AbortController().signal });
      expect(plan.counts).toEqual({ users: 2, never: 1, stale: 1 });
    } finally {
      st.close();
    }
  });

  it('a temporary space too small for the plan: exit 5 with one line naming where, not the bare SQLite error', async () => {
    const st = await stateWith('full', [['a', 1]]);
    try {
      // SQLite's own "disk full" (SQLITE_FULL), provoked by capping its temporary database.
      st.db.pragma('temp.max_page_count = 4');
      const ids = Array.from({ length: 5000 }, (_, i) => `user-with-a-long-id-${i}`);
      const err = await planRefresh(st, input(ids), { planned: 10, freshAfter: null, reset: false }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code).toBe('SQLITE_FULL');
      process.env['SQLITE_TMPDIR'] = '/mnt/small';
      const mapped = sqliteWriteError(err, "planning tonight's refresh", st.path);
      delete process.env['SQLITE_TMPDIR'];
      expect(mapped).toBeInstanceOf(ExitError);
      expect((mapped as ExitError).exitCode).toBe(5);
      expect((mapped as ExitError).message).toBe(
        `planning tonight's refresh: database or disk is full (SQLITE_FULL), in ${st.path} or in SQLite's temporary directory (/mnt/small); what was checkpointed is kept: make room (or set SQLITE_TMPDIR to a larger disk) and rerun the same command`,
      );
      // Any other error is left as it is.
      const other = new Error('boom');
      expect(sqliteWriteError(other, 'x', st.path)).toBe(other);
    } finally {
      st.close();
    }
  });
});
