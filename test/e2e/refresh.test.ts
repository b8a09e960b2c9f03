import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator } from '../support/emulator.js';
import { atProgress, killAndRerun, until } from '../support/kill-loop.js';
import { stateMeta, stateRows, untimed, usersCsv } from '../support/state.js';

/** README "Audiences larger than the quota": nights with a refresh budget against the emulator. */

const FLAGS = ['--rec-id', 'homepage', '--max-items', '2', '--rate-limit', '0', '--no-progress'];
let emu: RunningEmulator;
let dir: string;
beforeAll(async () => {
  dir = tempDir('refresh-');
  emu = await fixtureEmulator({ synthetic: true });
});
afterAll(async () => {
  await emu.close();
});

const path = (name: string) => join(dir, name);
/**
 * fetched_at is in whole seconds: a night compared with the one before must start in a later
 * second than that one ended, or its refreshed rows could not be told from the carried ones
 * (a night takes ~0.3 s). Called between the two.
 */
const nextSecond = () => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000)));
const night = (input: string, out: string, extra: string[] = []) => runCli(['export', '--input', path(input), '--output', path(out), '--api-url', emu.url, ...FLAGS, ...extra]);
/** CSV data rows as [user_id, fetched_at, status] (fetched_at and status are the last two cells). */
const cells = (text: string) => text.trim().split('\n').slice(1).map((l) => { const c = l.split(','); return [c[0]!, c.at(-2)!, c.at(-1)!]; });
const asked = () => Object.keys(emu.stats().perId ?? {});

describe('--refresh-budget over consecutive nights', () => {
  it('refreshes every user once every ceil(N/B) nights, the longest-waiting first, and hands over a complete file each night', async () => {
    const N = 10;
    const B = 3;
    writeFileSync(path('ten.csv'), usersCsv(0, N));
    const state = path('nights.sqlite');
    const last = new Map<string, number>(); // user -> night it was last refreshed
    for (let n = 1; n <= 8; n++) {
      emu.resetStats();
      await nextSecond();
      const r = await night('ten.csv', `night-${n}.csv`, ['--state', state, '--refresh-budget', String(B), '--summary', path(`night-${n}.json`), '--metrics-file', path(`night-${n}.prom`)]);
      expect(r.code, r.stderr).toBe(0);
      const refreshed = asked().sort();
      expect(emu.stats().requests, `night ${n}`).toBeLessThanOrEqual(B);
      expect(refreshed, `night ${n}`).toHaveLength(B);
      // Never refreshed twice while another waits longer: each refreshed user waited at least
      // as long as every user left waiting.
      const waited = (u: string) => n - (last.get(u) ?? -Infinity);
      const waiting = Array.from({ length: N }, (_, i) => `user-${i}`).filter((u) => !refreshed.includes(u));
      for (const u of refreshed) for (const w of waiting) expect(waited(u), `night ${n}: ${u} before ${w}`).toBeGreaterThanOrEqual(waited(w));
      for (const u of refreshed) last.set(u, n);
      // The output is a complete snapshot in input order: refreshed users stamped tonight,
      // carried ones with their older time, the never-fetched ones not_fetched.
      const rows = cells(readFileSync(path(`night-${n}.csv`), 'utf8'));
      expect(rows.map((c) => c[0])).toEqual(Array.from({ length: N }, (_, i) => `user-${i}`));
      const s = JSON.parse(readFileSync(path(`night-${n}.json`), 'utf8'));
      const tonight = rows.find((c) => refreshed.includes(c[0]!))![1];
      for (const [u, at, status] of rows) {
        if (refreshed.includes(u!)) expect(at).toBe(tonight);
        else if (last.has(u!)) expect(at! < tonight!, `${u} carried from an earlier night`).toBe(true);
        else expect([at, status]).toEqual(['', 'not_fetched']);
      }
      expect(s).toMatchObject({ users: N, refreshed: B, carried: last.size - B, not_fetched: N - last.size, requests: refreshed.length });
      expect(s.oldest_fetched_at).toBe(rows.map((c) => c[1]).filter(Boolean).sort()[0]);
      // The metrics file says the same, for a dashboard or an alert on stale data.
      const prom = readFileSync(path(`night-${n}.prom`), 'utf8');
      const metric = (name: string) => Number(prom.match(new RegExp(`^amp_profile_export_${name} (\\S+)$`, 'm'))?.[1]);
      expect([metric('refreshed_total'), metric('carried_total'), metric('not_fetched_total')]).toEqual([B, last.size - B, N - last.size]);
      expect(metric('oldest_fetched_at_timestamp_seconds')).toBe(Date.parse(s.oldest_fetched_at) / 1000);
    }
    // Every window of ceil(10/3) = 4 nights refreshed everyone.
    expect(Math.max(...[...last.values()].map((n) => 8 - n))).toBeLessThan(Math.ceil(N / B));
  });

  it('--delta writes only refreshed users that changed; carried and not_fetched users are left out', async () => {
    writeFileSync(path('six.csv'), usersCsv(0, 6));
    const state = path('delta.sqlite');
    expect((await night('six.csv', 'd1.csv', ['--state', state, '--delta', '--refresh-budget', '4'])).code).toBe(0);
    expect(cells(readFileSync(path('d1.csv'), 'utf8')).map((c) => c[0])).toEqual(['user-0', 'user-1', 'user-2', 'user-3']);
    // Night 2: users 4 and 5 (never fetched) and the two longest waiting (0, 1), unchanged: only 4 and 5 are new.
    expect((await night('six.csv', 'd2.csv', ['--state', state, '--delta', '--refresh-budget', '4'])).code).toBe(0);
    expect(cells(readFileSync(path('d2.csv'), 'utf8')).map((c) => c[0])).toEqual(['user-4', 'user-5']);
  });

  it('JSONL rows carry a fetched_at key; --max-age alone carries users fetched since', async () => {
    writeFileSync(path('four.csv'), usersCsv(0, 4));
    const state = path('age.sqlite');
    expect((await night('four.csv', 'a1.jsonl', ['--state', state, '--refresh-budget', '2'])).code).toBe(0);
    const first = readFileSync(path('a1.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(first.map((o) => [o.user_id, o.status, typeof o.fetched_at])).toEqual([['user-0', 'ok', 'string'], ['user-1', 'ok', 'string'], ['user-2', 'not_fetched', 'object'], ['user-3', 'not_fetched', 'object']]);
    expect(first[0].fetched_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    emu.resetStats();
    // Fetched moments ago: a max age of an hour refreshes only the never-fetched users.
    expect((await night('four.csv', 'a2.jsonl', ['--state', state, '--max-age', '1h'])).code).toBe(0);
    expect(asked().sort()).toEqual(['user-2', 'user-3']);
    const second = readFileSync(path('a2.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(second.map((o) => o.fetched_at)).toEqual([first[0].fetched_at, first[1].fetched_at, expect.any(String), expect.any(String)]);
  });

  it('a preset night: fetched_at before profile_status; carried rows as last written, not_fetched ones with their ids and no data', async () => {
    writeFileSync(path('preset.csv'), usersCsv(0, 4));
    const state = path('preset.sqlite');
    const braze = (n: number) => night('preset.csv', `braze-${n}.csv`, ['--preset', 'braze', '--state', state, '--refresh-budget', '2']);
    const table = (n: number) => {
      // Braze's preset splits its output into numbered files: four users fit in the first.
      const [header, ...rows] = readFileSync(path(`braze-${n}-00001.csv`), 'utf8').trim().split('\n').map((l) => l.split(','));
      return { header: header!, rows: rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!]))) };
    };
    expect((await braze(1)).code).toBe(0);
    await nextSecond();
    expect((await braze(2)).code).toBe(0);
    const [one, two] = [table(1), table(2)];
    expect(one.header.slice(-2)).toEqual(['fetched_at', 'profile_status']);
    expect(one.rows.map((r) => [r['external_id'], r['profile_status']])).toEqual([['user-0', 'ok'], ['user-1', 'ok'], ['user-2', 'not_fetched'], ['user-3', 'not_fetched']]);
    for (const r of one.rows.slice(2)) expect(r).toMatchObject({ fetched_at: '', rec_homepage_count: '0', rec_homepage_1: '' });
    expect(one.rows[0]!['rec_homepage_1']).not.toBe('');
    // Night two refreshes the two never fetched and carries the first two exactly as written.
    expect(two.rows.slice(0, 2)).toEqual(one.rows.slice(0, 2));
    expect(two.rows.slice(2).map((r) => r['profile_status'])).toEqual(['ok', 'ok']);
    expect(two.rows[2]!['fetched_at']! > one.rows[0]!['fetched_at']!).toBe(true);
  });

  it('a user listed twice is asked once, at its last line: the fresh row comes last, the one an upserting email tool keeps', async () => {
    writeFileSync(path('dup1.csv'), usersCsv(0, 3));
    const state = path('dup.sqlite');
    expect((await night('dup1.csv', 'dup1.out.csv', ['--state', state, '--refresh-budget', '3'])).code).toBe(0);
    const first = new Map(cells(readFileSync(path('dup1.out.csv'), 'utf8')).map((c) => [c[0], c[1]]));
    await nextSecond();
    emu.resetStats();
    // Budget 2: user-9 (never fetched), then the longest waiting, ties by first line: user-1.
    writeFileSync(path('dup2.csv'), 'user_id,device_id\nuser-1,\nuser-0,\nuser-9,\nuser-1,\nuser-9,\nuser-2,\n');
    expect((await night('dup2.csv', 'dup2.out.csv', ['--state', state, '--refresh-budget', '2'])).code).toBe(0);
    expect(emu.stats().perId).toEqual({ 'user-1': 1, 'user-9': 1 });
    const rows = cells(readFileSync(path('dup2.out.csv'), 'utf8'));
    const tonight = rows[3]![1];
    expect(tonight > first.get('user-1')!).toBe(true);
    expect(rows).toEqual([
      ['user-1', first.get('user-1'), 'ok'],
      ['user-0', first.get('user-0'), 'ok'],
      ['user-9', '', 'not_fetched'],
      ['user-1', tonight, 'ok'],
      ['user-9', tonight, 'ok'],
      ['user-2', first.get('user-2'), 'ok'],
    ]);
    // The state took the fresh rows (asked at the last line), not the earlier lines' old ones.
    emu.resetStats();
    expect((await night('dup2.csv', 'dup3.out.csv', ['--state', state, '--max-age', '1h'])).code).toBe(0);
    expect(asked()).toEqual([]);
    expect(cells(readFileSync(path('dup3.out.csv'), 'utf8')).filter((c) => c[0] === 'user-1' || c[0] === 'user-9').map((c) => c[1])).toEqual([tonight, tonight, tonight, tonight]);
  });

  it('retries count against the budget: users still unanswered when it is spent are not_fetched (or carried), never dropped', async () => {
    writeFileSync(path('flaky.csv'), usersCsv(0, 10));
    const faulty = await fixtureEmulator({ synthetic: true, faults: { rate: 0.5, kinds: ['503'], seed: 7, slowMs: 0, retryAfterSeconds: 0 } });
    try {
      const r = await runCli(['export', '--input', path('flaky.csv'), '--output', path('flaky.csv.out'), '--api-url', faulty.url, ...FLAGS, '--concurrency', '1', '--state', path('flaky.sqlite'), '--refresh-budget', '10', '--summary', path('flaky.json')], { env: { AMP_PROFILE_EXPORT_BACKOFF_MS: '1' } });
      expect(r.code, r.stderr).toBe(0);
      expect(faulty.stats().requests).toBe(10);
      const s = JSON.parse(readFileSync(path('flaky.json'), 'utf8'));
      expect(s.retries).toBeGreaterThan(0);
      // Every user has a row: the ones answered within the 10 requests, the rest not_fetched.
      const rows = cells(readFileSync(path('flaky.csv.out'), 'utf8'));
      expect(rows).toHaveLength(10);
      expect(s.refreshed + s.not_fetched + s.failed).toBe(10);
      expect(s.not_fetched).toBeGreaterThan(0);
      expect(rows.filter((c) => c[2] === 'not_fetched')).toHaveLength(s.not_fetched);
    } finally {
      await faulty.close();
    }
  });

  it('--dry-run plans the night from the input and the state without taking the state or sending a request', async () => {
    writeFileSync(path('dry.csv'), usersCsv(0, 10));
    const state = path('dry.sqlite');
    expect((await night('dry.csv', 'dry-1.csv', ['--state', state, '--refresh-budget', '4'])).code).toBe(0);
    const before = readFileSync(state);
    emu.resetStats();
    const r = await night('dry.csv', 'dry-2.csv', ['--state', state, '--refresh-budget', '4', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/refreshed +4 users \(4 never fetched, 0 least recently fetched\)/);
    expect(r.stdout).toMatch(/carried +4 users/);
    expect(r.stdout).toMatch(/not fetched +2 users/);
    expect(r.stdout).toMatch(/oldest data +fetched \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
    expect(r.stdout).toMatch(/full refresh +every 3 nights at 4 users a night/);
    // With a rate limit the estimate is for the requests the plan sends, not for every user.
    const limited = await night('dry.csv', 'dry-2.csv', ['--state', state, '--refresh-budget', '4', '--rate-limit', '600', '--rate-interval', '60', '--dry-run']);
    expect(limited.stdout).toMatch(/estimated time +\S+ for 4 requests at 10 a second/);
    expect(emu.stats().requests).toBe(0);
    expect(readFileSync(state).equals(before)).toBe(true);
  });

  it('refused with one line and exit 2: stdin with a budget, a budget without --state, a duration with no rate limit', async () => {
    const input = usersCsv(0, 3);
    const stdin = await runCli(['export', '--input', '-', '--output', path('x.csv'), '--api-url', emu.url, ...FLAGS, '--state', path('x.sqlite'), '--refresh-budget', '10'], { input });
    expect(stdin.code).toBe(2);
    expect(stdin.stderr).toMatch(/needs an input that can be read twice \(a file or s3:\/\/\), not stdin/);
    writeFileSync(path('three.csv'), input);
    const noState = await night('three.csv', 'x.csv', ['--refresh-budget', '10']);
    expect([noState.code, noState.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(noState.stderr).toMatch(/--refresh-budget needs --state/);
    const noLimit = await night('three.csv', 'x.csv', ['--state', path('x.sqlite'), '--refresh-budget', '6h']);
    expect(noLimit.code).toBe(2);
    expect(noLimit.stderr).toMatch(/a duration needs a rate limit/);
    const bad = await night('three.csv', 'x.csv', ['--state', path('x.sqlite'), '--max-age', 'soon']);
    expect(bad.stderr).toMatch(/--max-age expects a duration \(12h, 3d\), got soon/);
  });
});

describe('sharded planned nights', () => {
  it('each shard plans its own users with its own state; a duration budget is its share of the rate limit', async () => {
    const N = 24;
    const all = Array.from({ length: N }, (_, i) => `user-${i}`);
    writeFileSync(path('sharded.csv'), usersCsv(0, N));
    const shardNight = (i: number, n: number, extra: string[] = []) =>
      night('sharded.csv', `sharded-${i}-n${n}.csv`, ['--shard', `${i}/2`, '--state', path('sharded-{shard}.sqlite'), '--summary', path(`sharded-${i}-n${n}.json`), ...extra]);
    const mine: string[][] = [];
    for (const n of [1, 2]) {
      emu.resetStats();
      await nextSecond();
      // The two shards side by side, as two pods of one CronJob.
      const rs = await Promise.all([0, 1].map((i) => shardNight(i, n, ['--refresh-budget', '2'])));
      for (const r of rs) expect(r.code, r.stderr).toBe(0);
      const rows = [0, 1].map((i) => cells(readFileSync(path(`sharded-${i}-n${n}.csv`), 'utf8')));
      if (n === 1) {
        // Each shard's file holds its own users, in input order; together, every user once.
        for (const r of rows) mine.push(r.map((c) => c[0]!));
        expect([...mine[0]!, ...mine[1]!].sort()).toEqual([...all].sort());
        for (const m of mine) expect(m).toEqual(all.filter((u) => m.includes(u)));
        expect(Math.min(mine[0]!.length, mine[1]!.length)).toBeGreaterThanOrEqual(8);
      }
      // Each shard refreshed its own next two never-fetched users, in input order, and carried
      // the ones it refreshed the night before: two requests a shard, four in all.
      const expected = mine.flatMap((m) => m.slice(2 * (n - 1), 2 * n));
      expect(asked().sort()).toEqual([...expected].sort());
      expect(emu.stats().requests).toBe(4);
      for (const i of [0, 1]) {
        const m = mine[i]!;
        expect(rows[i]!.map((c) => c[0])).toEqual(m);
        // Refreshed tonight, carried from an earlier night (its older fetch time), or not fetched.
        const tonight = rows[i]![2 * (n - 1)]![1]!;
        const age = (at: string) => (at === '' ? 'none' : at === tonight ? 'tonight' : at < tonight ? 'earlier' : 'later');
        expect(rows[i]!.map((c) => `${age(c[1]!)} ${c[2]}`)).toEqual(m.map((_, k) => (k < 2 * (n - 1) ? 'earlier ok' : k < 2 * n ? 'tonight ok' : 'none not_fetched')));
        expect(JSON.parse(readFileSync(path(`sharded-${i}-n${n}.json`), 'utf8'))).toMatchObject({ users: m.length, refreshed: 2, carried: 2 * (n - 1), not_fetched: m.length - 2 * n });
        // Its state holds its own users only: the other shard's are neither in it nor reported gone.
        expect(stateRows(path(`sharded-${i}.sqlite`)).map((r) => r.key)).toEqual(m.slice(0, 2 * n).map((u) => `u:${u}`).sort());
      }
    }
    // A duration is the requests the rate limit allows in it, shared by the shards: 4 a minute
    // for one minute is 2 requests for each of two shards (4 for a single process).
    const dry = await shardNight(1, 3, ['--refresh-budget', '1m', '--rate-limit', '4', '--rate-interval', '60', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/refreshed +2 users \(2 never fetched, 0 least recently fetched\)/);
    expect(dry.stdout).toMatch(/carried +4 users/);
    expect(dry.stdout).toMatch(new RegExp(`not fetched +${mine[1]!.length - 6} users`));
    expect(emu.stats().requests).toBe(4);
  });
});

describe('a planned night killed anywhere and rerun', () => {
  it('resumes the same plan: the same users asked, no more requests than the budget bar what was in flight, byte-identical output', async () => {
    const USERS = 200;
    const B = 100;
    writeFileSync(path('kill.csv'), usersCsv(0, USERS));
    // A state where users 0-149 were fetched: the night refreshes 50 never fetched + 45 oldest (5 % reserve).
    const base = path('kill-base.sqlite');
    expect((await night('kill.csv', 'kill-base.csv', ['--state', base, '--refresh-budget', '150'])).code).toBe(0);
    await nextSecond();
    const slow = ['--refresh-budget', String(B), '--rate-limit', '40', '--rate-interval', '1', '--concurrency', '4'];
    copyFileSync(base, path('ref.sqlite'));
    emu.resetStats();
    const ref = await night('kill.csv', 'ref.csv', ['--state', path('ref.sqlite'), ...slow, '--rate-limit', '0']);
    expect(ref.code, ref.stderr).toBe(0);
    const refAsked = asked().sort();
    expect(refAsked).toHaveLength(95);
    // No user refreshed twice in one run: one request each, under the budget.
    expect(new Set(Object.values(emu.stats().perId ?? {}))).toEqual(new Set([1]));
    expect(emu.stats().requests).toBe(95);

    copyFileSync(base, path('killed.sqlite'));
    emu.resetStats();
    const args = ['export', '--input', path('kill.csv'), '--output', path('killed.csv'), '--api-url', emu.url, ...FLAGS, '--state', path('killed.sqlite'), ...slow];
    const kills = 3;
    const { schedule, last } = await killAndRerun({
      kills,
      seed: 12,
      start: () => startCli(args),
      moment: atProgress(() => emu.asked(), kills, 1, 90),
      rerun: () => runCli([...args, '--rate-limit', '0']),
    });
    expect(last.code, last.stderr).toBe(0);
    expect(asked().sort(), schedule).toEqual(refAsked);
    // What a kill loses is at most what was in flight (4) or done since the last checkpoint (~1 s at 40/s).
    expect(emu.stats().requests, schedule).toBeLessThanOrEqual(B + kills * (4 + 60));
    // Byte-identical but for tonight's time, which is the first attempt's in every resumed run.
    const tonight = (text: string) => [...new Set(cells(text).map((c) => c[1]).filter(Boolean))].sort().at(-1)!;
    const mask = (text: string) => text.replaceAll(tonight(text), 'TONIGHT');
    const killed = readFileSync(path('killed.csv'), 'utf8');
    expect(mask(killed), schedule).toBe(mask(readFileSync(path('ref.csv'), 'utf8')));
    expect(logLines(last.stderr).at(-1)).toMatchObject({ refreshed: 95, carried: 105, not_fetched: 0 });
  }, 120_000);

  it('stopped mid-run (SIGTERM): exit 143 with the plan still being read, and the rerun resumes it to the same file', async () => {
    writeFileSync(path('term.csv'), usersCsv(0, 200));
    const base = path('term-base.sqlite');
    expect((await night('term.csv', 'term-base.csv', ['--state', base, '--refresh-budget', '150'])).code).toBe(0);
    await nextSecond();
    copyFileSync(base, path('term-ref.sqlite'));
    const ref = await night('term.csv', 'term-ref.csv', ['--state', path('term-ref.sqlite'), '--refresh-budget', '100']);
    expect(ref.code, ref.stderr).toBe(0);
    copyFileSync(base, path('term.sqlite'));
    emu.resetStats();
    const args = ['export', '--input', path('term.csv'), '--output', path('term.csv.out'), '--api-url', emu.url, ...FLAGS, '--state', path('term.sqlite'), '--refresh-budget', '100', '--summary', path('term.json')];
    // The run reads its plan's rows in step from an open SQLite query: the stop closes the state with it open.
    const run = startCli([...args, '--rate-limit', '40', '--rate-interval', '1', '--concurrency', '4']);
    await until(() => emu.stats().requests >= 10, () => run.child.exitCode === null);
    run.child.kill('SIGTERM');
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(stopped.stderr).not.toMatch(/\n\s+at /);
    expect(JSON.parse(readFileSync(path('term.json'), 'utf8'))).toMatchObject({ ended: 'stopped', exitCode: 143 });
    expect(stateMeta(path('term.sqlite'))['last_run'], 'the state did not move on').toBe(stateMeta(base)['last_run']);
    const rerun = await runCli(args);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(untimed(readFileSync(path('term.csv.out'), 'utf8'))).toBe(untimed(readFileSync(path('term-ref.csv'), 'utf8')));
  });

  it('killed during its state update: a rerun, with or without the budget, finishes it and keeps the carried users', async () => {
    writeFileSync(path('commit-all.csv'), usersCsv(0, 22));
    writeFileSync(path('commit.csv'), usersCsv(0, 20));
    const base = path('commit-base.sqlite');
    expect((await night('commit-all.csv', 'commit-base.csv', ['--state', base, '--refresh-budget', '30'])).code).toBe(0);
    await nextSecond();
    // Tonight: 5 refreshed, 15 carried (a carried user is not staged: the plan says it is
    // present), 2 gone from the input.
    copyFileSync(base, path('commit-ref.sqlite'));
    const ref = await night('commit.csv', 'commit-ref.csv', ['--state', path('commit-ref.sqlite'), '--refresh-budget', '5', '--removed', path('commit-ref.removed.csv')]);
    expect(logLines(ref.stderr).at(-1)).toMatchObject({ refreshed: 5, carried: 15, removed: 2 });
    expect(readFileSync(path('commit-ref.removed.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0])).toEqual(['user-20', 'user-21']);
    expect(stateRows(path('commit-ref.sqlite'))).toHaveLength(20);

    for (const rerunFlags of [['--refresh-budget', '5'], []]) {
      const st = path(`commit-killed-${rerunFlags.length}.sqlite`);
      copyFileSync(base, st);
      const out = `commit-killed-${rerunFlags.length}.csv`;
      const killed = await runCli(['export', '--input', path('commit.csv'), '--output', path(out), '--api-url', emu.url, ...FLAGS, '--state', st, '--refresh-budget', '5'], { env: { AMP_PROFILE_EXPORT_KILL_AT: 'state-commit' } });
      expect(killed.signal, `${killed.code} ${killed.stderr}`).toBe('SIGKILL');
      emu.resetStats();
      const rerun = await night('commit.csv', out, ['--state', st, ...rerunFlags]);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(emu.stats().requests).toBe(0); // finished from the staged results
      expect(logLines(rerun.stderr).at(-1)).toMatchObject({ removed: 2 });
      // The same state as the night that was not killed: the 5 refreshed, the 15 carried as they were.
      expect(stateRows(st), rerunFlags.join(' ') || 'no budget').toEqual(stateRows(path('commit-ref.sqlite')));
    }
  });
});

describe('a stop signal while the night is planned', () => {
  /**
   * A signal is seen at the next turn of the event loop: during the read when the input spans
   * more than the streams buffer (about 45,000 users here; the unit test stops a read midway),
   * else at the end of the read, before the SQL steps.
   */
  const USERS = 2_000;
  const hook = (point: string, signal: string) => ({ env: { AMP_PROFILE_EXPORT_KILL_AT: point, AMP_PROFILE_EXPORT_KILL_SIGNAL: signal } });
  const planLines = (stderr: string) => logLines(stderr).filter((l) => String(l['msg']).startsWith("tonight's plan"));

  it('stops the plan where it is (reading, or between its steps): exit 143/130, no request, yesterday\'s file untouched; the rerun makes the same file', async () => {
    writeFileSync(path('stop.csv'), usersCsv(0, USERS));
    const state = path('stop.sqlite');
    const args = (out: string) => ['export', '--input', path('stop.csv'), '--output', path(out), '--api-url', emu.url, ...FLAGS, '--state', state, '--refresh-budget', '50', '--summary', path(`${out}.json`)];
    writeFileSync(path('stop-out.csv'), 'yesterday\n');
    for (const [point, signal, code] of [['plan-read', 'SIGTERM', 143], ['plan-sorted', 'SIGINT', 130]] as const) {
      emu.resetStats();
      const r = await runCli(args('stop-out.csv'), hook(point, signal));
      expect(r.code, `${point}: ${r.stderr}`).toBe(code);
      expect(emu.stats().requests, point).toBe(0);
      // Stopped before the plan was made: no plan logged, and how far it read.
      expect(planLines(r.stderr), point).toEqual([]);
      const stopped = logLines(r.stderr).find((l) => String(l['msg']).startsWith('stopped while planning'));
      expect(stopped?.['usersRead'], point).toBeLessThanOrEqual(USERS);
      expect(readFileSync(path('stop-out.csv'), 'utf8'), point).toBe('yesterday\n');
      expect(existsSync(path('stop-out.csv.checkpoint.json')), 'no checkpoint: the rerun starts afresh').toBe(false);
      expect(JSON.parse(readFileSync(path('stop-out.csv.json'), 'utf8')), point).toMatchObject({ ended: 'stopped', exitCode: code, users: 0, requests: 0 });
      expect(stateMeta(state)['last_run'], 'the state did not move on').toBeUndefined();
    }
    // The rerun plans the same night from the start: the file of a night that was never stopped.
    const rerun = await runCli(args('stop-out.csv'));
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(planLines(rerun.stderr)).toHaveLength(1);
    const ref = await runCli(args('stop-ref.csv').map((a) => (a === state ? path('stop-ref.sqlite') : a)));
    expect(ref.code, ref.stderr).toBe(0);
    expect(untimed(readFileSync(path('stop-out.csv'), 'utf8'))).toBe(untimed(readFileSync(path('stop-ref.csv'), 'utf8')));
  });

  it('a rerun finishing a killed state update stops too when told, and the next one finishes it', async () => {
    writeFileSync(path('recall.csv'), usersCsv(0, USERS));
    const st = path('recall.sqlite');
    const args = (state: string, out: string) => ['export', '--input', path('recall.csv'), '--output', path(out), '--api-url', emu.url, ...FLAGS, '--state', state, '--refresh-budget', '50'];
    const ref = await runCli(args(path('recall-ref.sqlite'), 'recall-ref.csv'));
    expect(ref.code, ref.stderr).toBe(0);
    const killed = await runCli(args(st, 'recall-out.csv'), { env: { AMP_PROFILE_EXPORT_KILL_AT: 'state-commit' } });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const before = stateMeta(st)['last_run'];
    emu.resetStats();
    // The rerun reads the night's users again before it finishes the update: SIGTERM there.
    const stopped = await runCli(args(st, 'recall-out.csv'), hook('plan-read', 'SIGTERM'));
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(logLines(stopped.stderr).map((l) => String(l['msg']))).toContain(`stopped while planning, after reading ${USERS} users of the input: nothing was requested or written`);
    expect(stateMeta(st)['last_run']).toBe(before);
    const rerun = await runCli(args(st, 'recall-out.csv'));
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(emu.stats().requests).toBe(0);
    // The state of the night that was never killed (fetch times aside).
    expect(stateRows(st)).toEqual(stateRows(path('recall-ref.sqlite')));
  });
});
