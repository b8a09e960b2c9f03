import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { changedAt } from '../../src/emulator/synthetic.js';
import { runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator } from '../support/emulator.js';
import { stateMeta, stateRows, untimed, usersCsv } from '../support/state.js';

const FLAGS = ['--rec-id', 'homepage', '--prediction-id', 'p-buy', '--rate-limit', '0', '--no-progress'];
const KEY = 'demo-secret-key';

/** One emulator per night: at epoch N about one user in ten has new answers. */
const nights = new Map<number, RunningEmulator>();
let dir: string;
beforeAll(async () => {
  dir = tempDir('state-');
  for (const epoch of [1, 2]) nights.set(epoch, await fixtureEmulator({ synthetic: true, epoch }));
  writeFileSync(join(dir, 'night1.csv'), usersCsv(0, 200));
  // Night 2: users 0-9 left the audience, 200-209 joined.
  writeFileSync(join(dir, 'night2.csv'), usersCsv(10, 210));
});
afterAll(async () => {
  for (const e of nights.values()) await e.close();
});

const exportAt = (epoch: number, input: string, output: string, extra: string[] = []) =>
  runCli(['export', '--input', join(dir, input), '--output', join(dir, output), '--api-url', nights.get(epoch)!.url, ...FLAGS, ...extra]);

/** A CSV's data lines keyed by their first cell (user_id). */
const byUser = (text: string) => new Map(text.trim().split('\n').slice(1).map((l) => [l.split(',')[0]!, l]));
const lines = (text: string) => text.trim().split('\n');

describe('night 1, night 2, night 3 with --state --delta --removed', () => {
  it('delivers every user first, then exactly the new and changed users in input order, then nothing', async () => {
    const state = join(dir, 'nights.sqlite');
    const incr = (n: number) => ['--state', state, '--delta', '--removed', join(dir, `removed-${n}.csv`), '--summary', join(dir, `summary-${n}.json`)];

    const n1 = await exportAt(1, 'night1.csv', 'delta-1.csv', incr(1));
    expect(n1.code, n1.stderr).toBe(0);
    // The full exports have a state of their own (a new one each night): the same layout, fetched_at included.
    const full1 = await exportAt(1, 'night1.csv', 'full-1.csv', ['--state', join(dir, 'full-1.sqlite')]);
    expect(untimed(readFileSync(join(dir, 'delta-1.csv'), 'utf8'))).toBe(untimed(readFileSync(join(dir, 'full-1.csv'), 'utf8')));
    expect(full1.code).toBe(0);
    expect(lines(readFileSync(join(dir, 'removed-1.csv'), 'utf8'))).toHaveLength(1); // the header alone
    expect(stateRows(state)).toHaveLength(200);

    const n2 = await exportAt(2, 'night2.csv', 'delta-2.csv', incr(2));
    expect(n2.code, n2.stderr).toBe(0);
    await exportAt(2, 'night2.csv', 'full-2.csv', ['--state', join(dir, 'full-2.sqlite')]);
    const full2 = untimed(readFileSync(join(dir, 'full-2.csv'), 'utf8'));
    const delta2 = untimed(readFileSync(join(dir, 'delta-2.csv'), 'utf8'));
    const expected = [];
    for (let i = 10; i < 210; i++) if (i >= 200 || changedAt(`user-${i}`, 2) === 2) expected.push(`user-${i}`);
    expect(expected.length).toBeGreaterThan(20);
    // The same bytes as the full export's rows of those users, in input order, under the same header.
    expect(lines(delta2)).toEqual([lines(full2)[0], ...expected.map((u) => byUser(full2).get(u))]);
    const removed2 = lines(readFileSync(join(dir, 'removed-2.csv'), 'utf8'));
    expect(removed2[0]).toBe(lines(full2)[0]);
    expect(removed2.slice(1)).toEqual(Array.from({ length: 10 }, (_, i) => `user-${i},${',,,,,,,,,,,,,,,,'},removed`));
    const s2 = JSON.parse(readFileSync(join(dir, 'summary-2.json'), 'utf8'));
    expect(s2).toMatchObject({ users: 200, ok: 200, unchanged: 200 - expected.length, rows: expected.length, removed: 10 });
    expect(stateRows(state).map((r) => r.key)).toEqual([...Array.from({ length: 200 }, (_, i) => `u:user-${i + 10}`)].sort());

    // Night 3: the same answers, the same users: nothing to deliver, nobody removed.
    const n3 = await exportAt(2, 'night2.csv', 'delta-3.csv', incr(3));
    expect(n3.code, n3.stderr).toBe(0);
    expect(readFileSync(join(dir, 'delta-3.csv'), 'utf8')).toBe(`${lines(full2)[0]}\n`);
    expect(readFileSync(join(dir, 'removed-3.csv'), 'utf8')).toBe(`${lines(full2)[0]}\n`);
    expect(JSON.parse(readFileSync(join(dir, 'summary-3.json'), 'utf8'))).toMatchObject({ unchanged: 200, rows: 0, removed: 0 });
    // The secret key is in no byte of the state.
    expect(readFileSync(state).includes(Buffer.from(KEY))).toBe(false);
  });

  it('JSONL and a preset: removed rows in the layout (ids, status removed, rec counts 0); an empty delta is an empty file', async () => {
    const jsonState = join(dir, 'jsonl.sqlite');
    const j = (n: number, epoch: number, input: string) =>
      exportAt(epoch, input, `delta-${n}.jsonl`, ['--state', jsonState, '--delta', '--removed', join(dir, `removed-${n}.jsonl`)]);
    expect((await j(1, 1, 'night1.csv')).code).toBe(0);
    expect((await j(2, 2, 'night2.csv')).code).toBe(0);
    const gone = lines(readFileSync(join(dir, 'removed-2.jsonl'), 'utf8')).map((l) => JSON.parse(l));
    expect(gone).toHaveLength(10);
    expect(gone[0]).toEqual({ user_id: 'user-0', device_id: null, fetched_at: null, status: 'removed', recommendations: null, propensities: null, cohort_ids: null, amp_props: null });
    expect((await j(3, 2, 'night2.csv')).code).toBe(0);
    expect(readFileSync(join(dir, 'delta-3.jsonl'), 'utf8')).toBe('');

    const brazeState = join(dir, 'braze.sqlite');
    const b = (n: number, epoch: number, input: string) =>
      exportAt(epoch, input, `braze-${n}.csv`, ['--preset', 'braze', '--state', brazeState, '--delta', '--removed', join(dir, `braze-removed-${n}.csv`)]);
    expect((await b(1, 1, 'night1.csv')).code).toBe(0);
    expect((await b(2, 2, 'night2.csv')).code).toBe(0);
    const [header, first] = lines(readFileSync(join(dir, 'braze-removed-2.csv'), 'utf8'));
    const row = Object.fromEntries(header!.split(',').map((h, i) => [h, first!.split(',')[i]]));
    expect(row).toMatchObject({ external_id: 'user-0', rec_homepage_count: '0', rec_homepage_1: '', propensity_p_buy: '', profile_status: 'removed' });
  });

  it('a state of another layout is refused naming the option; --reset-state starts it over', async () => {
    const state = join(dir, 'layout.sqlite');
    expect((await exportAt(1, 'night1.csv', 'layout-1.csv', ['--state', state])).code).toBe(0);
    const other = await exportAt(1, 'night1.csv', 'layout-2.csv', ['--state', state, '--max-items', '3']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/another layout: --max-items \(10 then, 3 now\)/);
    expect(existsSync(join(dir, 'layout-2.csv'))).toBe(false);
    const reset = await exportAt(2, 'night2.csv', 'layout-3.csv', ['--state', state, '--max-items', '3', '--reset-state', '--delta', '--removed', join(dir, 'layout-removed.csv')]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(lines(readFileSync(join(dir, 'layout-3.csv'), 'utf8'))).toHaveLength(201); // every user new
    expect(lines(readFileSync(join(dir, 'layout-removed.csv'), 'utf8'))).toHaveLength(1); // nobody reported
    expect(stateRows(state)).toHaveLength(200);
    expect(JSON.parse(stateMeta(state).layout!).maxItems).toBe(3);
  });

  it('a state of the release before fetched_at (rows without the cell) is refused, not mixed into tonight\'s rows; --reset-state rebuilds it', async () => {
    const state = join(dir, 'old-release.sqlite');
    expect((await exportAt(1, 'night1.csv', 'old-1.csv', ['--state', state])).code).toBe(0);
    // What that release left: the layout without fetchedAt (its rows had no such cell).
    const db = new Database(state);
    const layout = JSON.parse(stateMeta(state).layout!);
    delete layout.fetchedAt;
    db.prepare("UPDATE meta SET v = ? WHERE k = 'layout'").run(JSON.stringify(layout));
    db.close();
    const refused = await exportAt(1, 'night1.csv', 'old-2.csv', ['--state', state, '--refresh-budget', '5']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/written by an earlier release, whose rows have no fetched_at cell: add --reset-state once/);
    expect(existsSync(join(dir, 'old-2.csv'))).toBe(false);
    expect((await exportAt(1, 'night1.csv', 'old-3.csv', ['--state', state, '--reset-state'])).code).toBe(0);
  });
});

describe('bad state input: one line, exit 2, before any request, nothing touched', () => {
  const cases: Array<[string, (d: string) => string[]]> = [
    ['not SQLite', (d) => (writeFileSync(join(d, 's'), 'user_id\nplain text\n'), ['--state', join(d, 's')])],
    ['another SQLite', (d) => (copyFileSync(join(dir, 'layout.sqlite'), join(d, 's')), patch(join(d, 's'), 68, 0), ['--state', join(d, 's')])],
    ['written by a newer version', (d) => (copyFileSync(join(dir, 'layout.sqlite'), join(d, 's')), patch(join(d, 's'), 63, 9), ['--state', join(d, 's')])],
    ['corrupt', (d) => (writeFileSync(join(d, 's'), readFileSync(join(dir, 'nights.sqlite')).subarray(0, 5000)), ['--state', join(d, 's')])],
    ['--delta without --state', () => ['--delta']],
    ['--removed without --state', (d) => ['--removed', join(d, 'r.csv')]],
    ['--reset-state without --state', () => ['--reset-state']],
    ['a directory that cannot be written', (d) => (writeFileSync(join(d, 'file'), 'x'), ['--state', join(d, 'file', 'state.sqlite')])],
  ];
  it.each(cases)('%s', async (_, setup) => {
    const d = tempDir('state-bad-');
    const flags = setup(d);
    const before = readdirSync(d).map((f) => [f, readFileSync(join(d, f)).toString('base64')]);
    const emu = nights.get(1)!;
    emu.resetStats();
    // A temporary directory of its own: in the shared one, directories that other tests' killed
    // runs left are swept by this run's state, with an info line of its own (a second line).
    const r = await runCli(['export', '--input', join(dir, 'night1.csv'), '--output', join(d, 'out.csv'), '--api-url', emu.url, ...FLAGS, ...flags], { env: { TMPDIR: tempDir('state-bad-tmp-') } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(emu.stats().requests).toBe(0);
    expect(readdirSync(d).map((f) => [f, readFileSync(join(d, f)).toString('base64')])).toEqual(before);
  });
});

/** Sets byte `at` of a SQLite header (68: application id, 60-63: user version, big-endian). */
function patch(path: string, at: number, value: number): void {
  const b = readFileSync(path);
  b.writeUInt8(value, at);
  if (at === 68) b.writeUInt32BE(0, 68);
  writeFileSync(path, b);
}

describe('one run at a time per state', () => {
  it('a second run on a state in use is refused with exit 2; the lock goes with the process', async () => {
    const state = join(dir, 'lock.sqlite');
    const { StateDb } = await import('../../src/state/db.js');
    const held = await StateDb.open(state); // this test process holds it, as a running export would
    const r = await exportAt(1, 'night1.csv', 'lock-1.csv', ['--state', state]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/in use by another run \(locked\)/);
    held.close();
    rmSync(join(dir, 'lock-1.csv.checkpoint.json'), { force: true });
    expect((await exportAt(1, 'night1.csv', 'lock-1.csv', ['--state', state])).code).toBe(0);
  });
});

describe('a run without a checkpoint stages in a temporary directory of its own', () => {
  it('removed however the run ends: completed, or stopped by a refused key (exit 3)', async () => {
    const tmp = tempDir('state-tmp-');
    const state = join(dir, 'stdout.sqlite');
    const toStdout = (env: Record<string, string>) =>
      runCli(['export', '--input', join(dir, 'night1.csv'), '--output', '-', '--api-url', nights.get(1)!.url, ...FLAGS, '--state', state], { env: { TMPDIR: tmp, ...env } });
    const refused = await toStdout({ AMPLITUDE_SECRET_KEY: 'wrong-key-123456' });
    expect(refused.code, refused.stderr).toBe(3);
    expect(readdirSync(tmp)).toEqual([]);
    const done = await toStdout({});
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.trim().split('\n')).toHaveLength(201);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
