import { describe, expect, it } from 'vitest';
import type { StartPlan } from '../../src/checkpoint/plan.js';
import type { Checkpoint } from '../../src/checkpoint/state.js';
import { buildConfig, type ExportArgs } from '../../src/config.js';
import type { ExportResult } from '../../src/export.js';
import { exportDefaults } from '../../src/flags.js';
import { formatProgressLine } from '../../src/progress/format.js';
import { prometheusText } from '../../src/report/metrics.js';
import { contentHash, delivery, identityKey, parseStaged, stagedLine } from '../../src/state/delta.js';
import { layoutDifferences, stateLayout } from '../../src/state/layout.js';
import { planState } from '../../src/state/plan.js';
import { applyRun, type Leaving } from '../../src/state/apply.js';
import { StateDb } from '../../src/state/db.js';
import { tempDir } from '../support/cli.js';
import { join } from 'node:path';
import { removedRow } from '../../src/state/removed.js';
import { runSummary } from '../../src/summary.js';

const args = (over: Partial<ExportArgs> = {}) => ({ ...exportDefaults(), input: 'u.csv', output: 'out/{date}.csv', ...over }) as ExportArgs;
const cfg = (over: Partial<ExportArgs> = {}) => buildConfig(args(over), new Date('2026-12-03T01:00:00Z'), {});
const usage = (over: Partial<ExportArgs>) => {
  try {
    cfg(over);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('no usage error');
};

describe('delta rules', () => {
  it('keys users by user_id, else device_id, apart from each other', () => {
    expect(identityKey({ user_id: 'a', device_id: 'x' })).toBe('u:a');
    expect(identityKey({ user_id: '', device_id: 'a' })).toBe('d:a');
    expect(identityKey({ user_id: '', device_id: '' })).toBe('');
  });
  it('new, changed or unchanged by the content hash of every cell written', () => {
    const h = contentHash('u1,,homepage,false,model,1,item-1,ok\n');
    expect(delivery(undefined, h)).toBe('new');
    expect(delivery(h, contentHash('u1,,homepage,false,model,1,item-1,ok\n'))).toBe('unchanged');
    expect(delivery(h, contentHash('u1,,homepage,false,model,1,item-2,ok\n'))).toBe('changed');
    expect(h).toHaveLength(16);
  });
  it('staged lines round-trip', () => {
    const s = { k: 'u:a', h: 'AAAA', t: 5, r: 'a,"b\nc"\n' };
    expect(parseStaged(stagedLine(s).trimEnd())).toEqual(s);
    expect(stagedLine(s).split('\n')).toHaveLength(2); // one line, whatever the rows hold
  });
});

describe('removed rows', () => {
  const header = 'user_id,device_id,rec_id,item_1,propensity_p,status\n';
  it('CSV: the ids of the stored row, every other cell empty, status removed', () => {
    expect(removedRow({ format: 'csv', header, idColumns: 2, escapeFormulas: false }, 'u:a', 'a,d1,homepage,i1,0.5,ok\na,d1,weekly,i2,0.5,ok\n')).toBe('a,d1,,,,removed\n');
    // No stored row (--control drop left none): the ids from the key.
    expect(removedRow({ format: 'csv', header, idColumns: 2, escapeFormulas: false }, 'd:x', '')).toBe(',x,,,,removed\n');
  });
  it('a preset: the identifier, rec counts 0, profile_status removed', () => {
    const h = 'external_id,rec_home_is_control,rec_home_count,rec_home_1,profile_status\n';
    expect(removedRow({ format: 'csv', header: h, idColumns: 1, escapeFormulas: false }, 'u:a', 'a,false,2,i1,ok\n')).toBe('a,,0,,removed\n');
  });
  it('JSONL: the stored keys, nulls, status removed', () => {
    const stored = `${JSON.stringify({ user_id: 'a', device_id: null, plan: 'x', status: 'ok', recommendations: [] })}\n`;
    expect(JSON.parse(removedRow({ format: 'jsonl', header: '', idColumns: 2, escapeFormulas: false }, 'u:a', stored))).toEqual({ user_id: 'a', device_id: null, plan: null, status: 'removed', recommendations: null });
  });
});

describe('state layout', () => {
  it('ignores what names one night (paths, split sizes) and names the flag that differs', () => {
    const a = stateLayout(cfg({ output: 'a.csv', rateLimit: 5 }));
    expect(layoutDifferences(a, stateLayout(cfg({ output: 'b/{date}.csv', splitRows: 100 })))).toEqual([]);
    expect(layoutDifferences(a, stateLayout(cfg({ recId: 'homepage' })))).toEqual(['--rec-id ([] then, ["homepage"] now)']);
    expect(layoutDifferences(a, stateLayout(cfg({ preset: 'braze', recId: 'x' }))).map((d) => d.split(' ')[0])).toEqual(['--rec-id', '--preset/--identifier/--email-column/--passthrough/--control']);
  });
});

describe('state options', () => {
  it('--delta, --removed, --reset-state, --refresh-budget and --max-age need --state', () => {
    expect(usage({ maxAge: '3d' })).toMatch(/--max-age needs --state/);
    expect(usage({ refreshBudget: '100' })).toMatch(/--refresh-budget needs --state/);
    expect(usage({ delta: true })).toMatch(/--delta needs --state/);
    expect(usage({ removed: 'r.csv' })).toMatch(/--removed needs --state/);
    expect(usage({ resetState: true })).toMatch(/--reset-state needs --state/);
  });
  it('fills {date} and {shard}; shards need {shard} in the state path', () => {
    const c = buildConfig(args({ state: 's3://b/state-{shard}.sqlite', removed: 'gone-{shard}-{date}.csv', shard: '2/3', delta: true }), new Date('2026-12-03T01:00:00Z'), {});
    expect(c.state).toMatchObject({ path: 's3://b/state-2.sqlite', delta: true, reset: false });
    expect(c.state!.removedPath).toMatch(/gone-2-2026-12-03\.csv$/);
    expect(usage({ state: 'state.sqlite', shard: '0/2' })).toMatch(/put \{shard\} in the path/);
  });
});

describe('planState', () => {
  const opts = { path: 's', delta: true, removedPath: null, reset: false, budget: null, maxAgeMs: null };
  const cp = (state: Checkpoint['state'], done: boolean): StartPlan => ({ kind: done ? 'complete' : 'resume', from: { state } as Checkpoint });
  const part = { run: 'r2', base: 'r1', delta: true, reset: false, stagingBytes: 10, at: 1_000 };
  it('a fresh start compares with the state as it is', () => {
    expect(planState({ kind: 'fresh' }, opts, { layout: null, lastRun: 'r1' }, () => 'new', 's', () => 5_000)).toEqual({ kind: 'run', run: 'new', base: 'r1', resume: false, at: 5_000 });
  });
  it('a resume keeps its run when the state has not moved on, else is refused', () => {
    // A resume keeps the run's fetch time: the rows it writes say the same time as the first run's.
    expect(planState(cp(part, false), opts, { layout: null, lastRun: 'r1' }, () => 'x', 's', () => 5_000)).toEqual({ kind: 'run', run: 'r2', base: 'r1', resume: true, at: 1_000 });
    // Another budget or max age would plan other users: refused rather than mixed.
    expect(() => planState(cp(part, false), { ...opts, budget: 100 }, { layout: null, lastRun: 'r1' }, () => 'x', 's')).toThrow(/other --refresh-budget\/--max-age \(neither; now a budget of 100 requests, no max age\)/);
    expect(planState(cp({ ...part, refresh: { budget: 100, maxAgeMs: null } }, false), { ...opts, budget: 100 }, { layout: null, lastRun: 'r1' }, () => 'x', 's').kind).toBe('run');
    expect(() => planState(cp(part, false), opts, { layout: null, lastRun: 'r9' }, () => 'x', 's')).toThrow(/changed since this run started/);
    expect(() => planState(cp(part, false), { ...opts, delta: false }, { layout: null, lastRun: 'r1' }, () => 'x', 's')).toThrow(/started with --delta/);
    expect(() => planState(cp(undefined, false), opts, { layout: null, lastRun: 'r1' }, () => 'x', 's')).toThrow(/without --state/);
  });
  it('a finished export: finish the state update a kill interrupted, else nothing', () => {
    expect(planState(cp(part, true), opts, { layout: null, lastRun: 'r1' }, () => 'x', 's')).toEqual({ kind: 'finish', run: 'r2' });
    expect(planState(cp(part, true), opts, { layout: null, lastRun: 'r2' }, () => 'x', 's')).toEqual({ kind: 'done' });
    expect(planState(cp(part, true), opts, { layout: null, lastRun: 'r3' }, () => 'x', 's').kind).toBe('done');
  });
});

describe('unchanged users in the progress line and the metrics', () => {
  it('are shown when the run has a state', async () => {
    const view = { elapsedSeconds: 1, bytesDone: 1, bytesTotal: 2, percent: 50, users: 10, ok: 10, no_recs: 0, unknown_user: 0, failed: 0, skipped: 0, unchanged: 7, usersPerSecond: 1, requestsPerSecond: 1, limitPerSecond: null, share: 1, etaSeconds: 1 };
    expect(formatProgressLine(view, 300)).toContain('unchanged 7');
    // A planned night (--refresh-budget) also shows the users carried and not fetched so far.
    expect(formatProgressLine({ ...view, carried: 90, not_fetched: 3 }, 300)).toContain('unchanged 7 · carried 90 · not fetched 3');
    const result: ExportResult = { exitCode: 0, ended: 'complete', counts: { users: 10, ok: 10, no_recs: 0, unknown_user: 0, failed: 0, skipped: 0, rows: 3, unchanged: 7, removed: 2 }, requests: { requests: 10, retries: 0, throttled: 0, slowdowns: 0 }, durationMs: 1, outputBytes: 1 };
    const s = runSummary({ result, exitCode: 0, startedAt: new Date(0), finishedAt: new Date(1000), checkpointBytes: null }, cfg({ state: 's.sqlite', delta: true }));
    expect(s).toMatchObject({ unchanged: 7, removed: 2 });
    const text = await prometheusText(s);
    expect(text).toContain('amp_profile_export_unchanged_total 7');
    expect(text).toContain('amp_profile_export_removed_total 2');
  });
});

describe('a checkpoint of a run with --state', () => {
  it('is not resumed without --state', async () => {
    const { checkResumeWithoutState } = await import('../../src/state/plan.js');
    const from = { state: { run: 'r', base: null, delta: true, reset: false, stagingBytes: 0 } } as Checkpoint;
    expect(() => checkResumeWithoutState({ kind: 'resume', from })).toThrow(/started with --state --delta/);
    expect(() => checkResumeWithoutState({ kind: 'complete', from })).not.toThrow();
  });
});

describe('applyRun (a real SQLite state)', () => {
  const layout = stateLayout(cfg());
  async function withState(users: Array<[string, number, string]>) {
    const st = await StateDb.open(join(tempDir('ape-apply-'), 'state.sqlite'));
    const put = st.db.prepare('INSERT INTO users (key, hash, fetched_at, rows) VALUES (?, ?, ?, ?)');
    for (const [k, at, rows] of users) put.run(k, contentHash(rows), at, rows);
    return st;
  }
  async function* lines(...staged: Array<Parameters<typeof stagedLine>[0]>) {
    for (const s of staged) yield stagedLine(s).trimEnd();
  }
  const h = (rows: string) => contentHash(rows).toString('base64');
  const users = (st: StateDb) => st.db.prepare('SELECT key, fetched_at AS at, rows FROM users ORDER BY key').all();

  it('ends each user as its staged lines, applied in order, leave it; the users not staged leave', async () => {
    const st = await withState([['u:a', 1, 'a0'], ['u:b', 1, 'b0'], ['u:c', 1, 'c0'], ['u:d', 1, 'd0']]);
    try {
      const left: Leaving[] = [];
      const removed = await applyRun(st, {
        run: 'r1',
        layout,
        reset: false,
        staged: lines(
          { k: 'u:a', h: h('a1'), t: 10, r: 'a1' },
          { k: 'u:e', h: h('e1'), t: 10, r: 'e1' },
          { k: 'u:b', t: 10 },
          { k: 'u:c' },
          { k: 'u:f', t: 10 },
          // Listed twice: a touch after new rows, new rows after a touch, new rows twice.
          { k: 'u:a', t: 20 },
          { k: 'u:b', h: h('b1'), t: 30, r: 'b1' },
          { k: 'u:e', h: h('e2'), t: 40, r: 'e2' },
        ),
        leaving: async (gone) => {
          for (const u of gone) left.push(u);
        },
      });
      expect(removed).toBe(1);
      expect(left).toEqual([{ key: 'u:d', rows: 'd0' }]);
      expect(users(st)).toEqual([
        { key: 'u:a', at: 20, rows: 'a1' },
        { key: 'u:b', at: 30, rows: 'b1' },
        { key: 'u:c', at: 1, rows: 'c0' },
        { key: 'u:e', at: 40, rows: 'e2' },
      ]);
      expect(st.db.prepare('SELECT hash FROM users WHERE key = ?').pluck().get('u:e')).toEqual(contentHash('e2'));
      expect(st.db.prepare("SELECT v FROM meta WHERE k = 'last_run'").pluck().get()).toBe('r1');
    } finally {
      st.close();
    }
  });

  it('applies every line of a staging file longer than one INSERT statement', async () => {
    const st = await withState([]);
    try {
      const many = Array.from({ length: 250 }, (_, i) => ({ k: `u:n${i}`, h: h(`n${i}`), t: i, r: `n${i}` }));
      expect(await applyRun(st, { run: 'r3', layout, reset: false, staged: lines(...many), leaving: async () => undefined })).toBe(0);
      expect(users(st)).toEqual(many.map((m) => ({ key: m.k, at: m.t, rows: m.r })).sort((a, b) => (a.key < b.key ? -1 : 1)));
    } finally {
      st.close();
    }
  });

  it('--reset-state: the old users go unreported, a kept one with them', async () => {
    const st = await withState([['u:a', 1, 'a0'], ['u:c', 1, 'c0']]);
    try {
      const left: Leaving[] = [];
      const removed = await applyRun(st, { run: 'r2', layout, reset: true, staged: lines({ k: 'u:a', h: h('a1'), t: 10, r: 'a1' }, { k: 'u:c' }), leaving: async (gone) => void left.push(...gone) });
      expect([removed, left]).toEqual([0, []]);
      expect(users(st)).toEqual([{ key: 'u:a', at: 10, rows: 'a1' }]);
    } finally {
      st.close();
    }
  });
});
