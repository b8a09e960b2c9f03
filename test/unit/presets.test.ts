import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { Profile, Recommendation } from '../../src/api/types.js';
import { planStart } from '../../src/checkpoint/plan.js';
import { type Checkpoint, CHECKPOINT_VERSION } from '../../src/checkpoint/state.js';
import { fingerprint } from '../../src/wiring/job.js';
import { buildConfig, type ExportArgs, type ExportConfig } from '../../src/config.js';
import { ExitError } from '../../src/errors.js';
import { CsvRows } from '../../src/output/csv.js';
import { JsonlRows } from '../../src/output/jsonl.js';
import { outputLayout } from '../../src/output/layout.js';
import { type ControlMode, parsePassthrough } from '../../src/output/options.js';
import { Passthrough } from '../../src/output/passthrough.js';
import { columnPart, PRESET, type PresetKey, type PresetName } from '../../src/output/presets/presets.js';
import { plainNumber, PresetRows } from '../../src/output/presets/wide.js';
import { zeroCounts } from '../../src/pipeline/counters.js';
import type { SourceItem, UserRow } from '../../src/sources/csv.js';
import { parseExportArgs } from '../support/export-args.js';
import { query } from '../support/query.js';

const HEADER = ['user_id', 'device_id', 'email', 'first_name'];
const row = (user_id: string, email = 'ann@example.com', first = 'Ann'): UserRow => ({ kind: 'user', line: 2, user_id, device_id: 'd1', fields: [user_id, 'd1', email, first], end: 0, endFeeds: 0 });
const rec = (rec_id: string, items: string[], over: Partial<Recommendation> = {}): Recommendation => ({
  rec_id,
  child_rec_id: rec_id,
  items,
  is_control: false,
  recommendation_source: 'model',
  last_updated: 1718000000,
  ...over,
});
const profile = (recs: Recommendation[] | null, over: Partial<Profile> = {}): Profile => ({
  user_id: 'u1',
  device_id: 'd1',
  recommendations: recs,
  propensities: [{ prop: 0.734, pred_id: 'p-buy', prop_type: 'score' }],
  cohort_ids: ['cohort-vip', 'cohort-newsletter'],
  amp_props: null,
  ...over,
});
const Q = query({ recIds: ['homepage', 'email-weekly'], predictionIds: ['p-buy'], cohortIds: true });
const pass = (spec = '') => new Passthrough(parsePassthrough(spec, []), HEADER, 'users.csv');

function wide(name: PresetName, o: { key?: PresetKey; control?: ControlMode; passthrough?: string; maxItems?: number } = {}) {
  const preset = PRESET[name];
  return new PresetRows({ preset, key: o.key ?? preset.defaultKey, emailAt: 2, query: Q, maxItems: o.maxItems ?? 3, escapeFormulas: false, pass: pass(o.passthrough), control: o.control ?? 'keep' });
}
/** Header and rows as records: column -> cell. */
function records(rows: PresetRows | CsvRows, ...users: Array<[UserRow, 'ok' | 'no_recs' | 'unknown_user', Profile | null]>): Array<Record<string, string>> {
  const text = rows.header() + users.map(([r, st, p]) => rows.format(r, st, p).text).join('');
  return parse(text, { columns: true });
}

const DATES: Record<PresetName, string> = {
  braze: '2024-06-10T06:13:20Z',
  iterable: '2024-06-10 06:13:20',
  klaviyo: '2024-06-10 06:13:20+00:00',
  sfmc: '2024-06-10T06:13:20Z',
};
const IDS: Record<PresetName, [string, string]> = {
  braze: ['external_id', 'u1'],
  iterable: ['userId', 'u1'],
  klaviyo: ['Email Address', 'ann@example.com'],
  sfmc: ['SubscriberKey', 'u1'],
};

describe('preset rows: one per user, each rec as columns', () => {
  it.each(Object.keys(PRESET) as PresetName[])('%s: identifier first, dates in its format, booleans true/false, counts, no arrays', (name) => {
    const p = profile([rec('homepage', ['a', 'b', 'c', 'd']), rec('email-weekly', ['x'], { is_control: true, last_updated: 1718003600 })]);
    const [r] = records(wide(name), [row('u1'), 'ok', p]);
    const [idCol, id] = IDS[name];
    expect(Object.keys(r!)[0]).toBe(idCol);
    expect(r![idCol]).toBe(id);
    expect(r).toMatchObject({
      rec_homepage_is_control: 'false',
      rec_homepage_source: 'model',
      rec_homepage_updated_at: DATES[name],
      rec_homepage_count: '3',
      rec_homepage_1: 'a',
      rec_homepage_3: 'c',
      rec_email_weekly_is_control: 'true',
      rec_email_weekly_count: '1',
      rec_email_weekly_1: 'x',
      rec_email_weekly_2: '',
      propensity_p_buy: '0.734',
      cohort_ids: 'cohort-vip;cohort-newsletter',
      profile_status: 'ok',
    });
    for (const cell of Object.values(r!)) expect(cell).not.toMatch(/^[[{]/);
  });

  it('writes a count of 0 and empty cells for a missing rec, a user with no recs and an unknown user', () => {
    const rows = wide('braze');
    const [one, none, unknown] = records(rows, [row('u1'), 'ok', profile([rec('email-weekly', ['x'])])], [row('u2'), 'no_recs', profile(null)], [row('u3'), 'unknown_user', null]);
    expect(one).toMatchObject({ rec_homepage_count: '0', rec_homepage_1: '', rec_homepage_is_control: '', rec_email_weekly_count: '1' });
    expect(none).toMatchObject({ external_id: 'u2', rec_homepage_count: '0', rec_email_weekly_count: '0', propensity_p_buy: '0.734', profile_status: 'no_recs' });
    expect(unknown).toMatchObject({ external_id: 'u3', rec_homepage_count: '0', propensity_p_buy: '', cohort_ids: '', profile_status: 'unknown_user' });
  });

  it('carries passthrough columns after the identifier, renamed with column:Header', () => {
    const rows = wide('sfmc', { passthrough: 'email:EmailAddress,first_name' });
    expect(rows.header().split(',').slice(0, 4)).toEqual(['SubscriberKey', 'EmailAddress', 'first_name', 'rec_homepage_is_control']);
    const [r] = records(rows, [row('u1', 'bo@example.com', 'Bo'), 'ok', profile([])]);
    expect(r).toMatchObject({ SubscriberKey: 'u1', EmailAddress: 'bo@example.com', first_name: 'Bo' });
  });

  it('iterable and sfmc can be keyed by email', () => {
    expect(records(wide('iterable', { key: 'email' }), [row('u1', ' bo@example.com '), 'ok', profile([])])[0]).toMatchObject({ email: 'bo@example.com' });
    expect(records(wide('sfmc', { key: 'email' }), [row('u1', 'bo@example.com'), 'ok', profile([])])[0]).toMatchObject({ SubscriberKey: 'bo@example.com' });
  });

  it('--control blank empties the control rec only; drop leaves out a user whose every rec is control', () => {
    const mixed = profile([rec('homepage', ['a', 'b']), rec('email-weekly', ['x', 'y'], { is_control: true })]);
    const allControl = profile([rec('homepage', ['a'], { is_control: true }), rec('email-weekly', ['x'], { is_control: true })]);
    const blank = wide('braze', { control: 'blank' });
    expect(records(blank, [row('u1'), 'ok', mixed])[0]).toMatchObject({ rec_homepage_count: '2', rec_homepage_1: 'a', rec_email_weekly_is_control: 'true', rec_email_weekly_count: '0', rec_email_weekly_1: '' });
    const drop = wide('braze', { control: 'drop' });
    expect(drop.format(row('u2'), 'ok', allControl)).toEqual({ text: '', rows: 0, dropped: 1 });
    // Some recs control, some not: the row stays, the control rec blanked.
    const f = drop.format(row('u1'), 'ok', mixed);
    expect(f).toMatchObject({ rows: 1, dropped: 0 });
    expect(records(drop, [row('u1'), 'ok', mixed])[0]).toMatchObject({ rec_homepage_count: '2', rec_email_weekly_count: '0', rec_email_weekly_is_control: 'true' });
    // No recs at all: nothing to drop.
    expect(drop.format(row('u3'), 'no_recs', profile(null))).toMatchObject({ rows: 1, dropped: 0 });
    // keep: items as the API answered.
    expect(records(wide('braze'), [row('u2'), 'ok', allControl])[0]).toMatchObject({ rec_homepage_1: 'a', rec_homepage_is_control: 'true' });
  });

  it('column names: letters, digits and _ only', () => {
    expect(columnPart('email-weekly')).toBe('email_weekly');
    expect(columnPart('p.churn v2')).toBe('p_churn_v2');
  });

  it('numbers are plain decimals, never exponents', () => {
    expect(plainNumber(0.734)).toBe('0.734');
    expect(plainNumber(1e-7)).toBe('0.0000001');
    expect(plainNumber(97)).toBe('97');
  });
});

describe('default layout: --passthrough and --control', () => {
  const csv = (control: ControlMode, spec = '') => new CsvRows({ query: Q, maxItems: 2, escapeFormulas: false, pass: pass(spec), control });
  const mixed = profile([rec('homepage', ['a', 'b']), rec('email-weekly', ['x'], { is_control: true })]);

  it('puts passthrough columns right after the ids', () => {
    const rows = csv('keep', 'email,first_name:FirstName');
    expect(rows.header()).toBe('user_id,device_id,email,FirstName,rec_id,is_control,recommendation_source,last_updated,item_1,item_2,propensity_p-buy,cohort_ids,status\n');
    expect(rows.format(row('u1'), 'ok', mixed).text.split('\n')[0]).toBe('u1,d1,ann@example.com,Ann,homepage,false,model,1718000000,a,b,0.734,cohort-vip;cohort-newsletter,ok');
  });

  it('keep (the default) writes what it wrote before: no dropped count', () => {
    const f = csv('keep').format(row('u1'), 'ok', mixed);
    expect(f.rows).toBe(2);
    expect(f.dropped).toBeUndefined();
    expect(f.text).toContain('email-weekly,true,model,1718000000,x,');
  });

  it('blank empties the control row\'s items; drop removes that row only (per rec)', () => {
    expect(csv('blank').format(row('u1'), 'ok', mixed).text.split('\n')[1]).toBe('u1,d1,email-weekly,true,model,1718000000,,,0.734,cohort-vip;cohort-newsletter,ok');
    const d = csv('drop').format(row('u1'), 'ok', mixed);
    expect(d).toMatchObject({ rows: 1, dropped: 1 });
    expect(d.text).not.toContain('email-weekly');
    const all = profile([rec('homepage', ['a'], { is_control: true }), rec('email-weekly', ['x'], { is_control: true })]);
    expect(csv('drop').format(row('u1'), 'ok', all)).toEqual({ text: '', rows: 0, dropped: 2 });
  });

  it('JSONL: passthrough keys after the ids; blank empties items; drop removes control recs, and the line when all are', () => {
    const j = (control: ControlMode, spec = '') => new JsonlRows(null, { pass: pass(spec), control });
    const o = JSON.parse(j('keep', 'email').format(row('u1'), 'ok', mixed).text);
    expect(Object.keys(o).slice(0, 4)).toEqual(['user_id', 'device_id', 'email', 'status']);
    expect(JSON.parse(j('blank').format(row('u1'), 'ok', mixed).text).recommendations[1].items).toEqual([]);
    const dropped = j('drop').format(row('u1'), 'ok', mixed);
    expect(JSON.parse(dropped.text).recommendations.map((r: Recommendation) => r.rec_id)).toEqual(['homepage']);
    expect(dropped.dropped).toBe(0);
    const all = profile([rec('homepage', ['a'], { is_control: true })]);
    expect(j('drop').format(row('u1'), 'ok', all)).toEqual({ text: '', rows: 0, dropped: 1 });
  });
});

describe('options (exit 2 with one line, before any request)', () => {
  const args = async (flags: string[]) => parseExportArgs(['--input', 'users.csv', '--output', '/data/out/recs.csv', '--rec-id', 'homepage,email-weekly', ...flags]);
  const build = async (flags: string[]) => buildConfig(await args(flags));
  const refused = async (flags: string[]): Promise<string> => {
    const err = await build(flags).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, flags.join(' ')).toBeInstanceOf(ExitError);
    expect((err as ExitError).exitCode).toBe(2);
    return (err as ExitError).message;
  };

  it('defaults: no preset, keep, no split; the fingerprint is that of a job before these flags existed', async () => {
    const cfg = await build([]);
    expect(cfg.esp).toEqual({ preset: null, key: null, emailColumn: 'email', passthrough: [], control: 'keep', split: null });
    expect(fingerprint(cfg, { path: '/in', size: 1 }, '/out').esp).toBeNull();
  });

  it("a preset brings its identifier and its tool's file limit (local files only)", async () => {
    expect((await build(['--preset', 'iterable'])).esp).toMatchObject({ preset: 'iterable', key: 'user_id', split: { rows: 2_000_000, bytes: null } });
    expect((await build(['--preset', 'klaviyo'])).esp).toMatchObject({ key: 'email', split: { rows: null, bytes: 50_000_000 } });
    expect((await build(['--preset', 'braze'])).esp).toMatchObject({ key: 'user_id', split: { rows: null, bytes: 500_000_000 } });
    expect((await build(['--preset', 'sfmc'])).esp.split).toBeNull();
    expect((await build(['--preset', 'iterable', '--split-rows', '0'])).esp.split).toBeNull();
    expect((await build(['--preset', 'iterable', '--split-rows', '1000'])).esp.split).toEqual({ rows: 1000, bytes: null });
    expect((await build(['--preset', 'iterable', '--identifier', 'email'])).esp.key).toBe('email');
    expect((await buildConfig({ ...(await args(['--preset', 'klaviyo'])), output: 's3://b/recs.csv' })).esp.split).toBeNull();
  });

  it.each<[string, string[], RegExp]>([
    ['an unknown preset', ['--preset', 'mailchimp'], /--preset expects braze, iterable, klaviyo, sfmc, got mailchimp/],
    ['a preset with JSONL output', ['--preset', 'braze', '--format', 'jsonl'], /--preset braze writes CSV/],
    ['a preset with --amp-props', ['--preset', 'iterable', '--amp-props'], /cannot take --amp-props: it makes a JSON cell/],
    ['an identifier the tool does not import by', ['--preset', 'braze', '--identifier', 'email'], /--identifier email: braze imports users by user_id/],
    ['--identifier without a preset', ['--identifier', 'email'], /--identifier needs --preset/],
    ['a bad --control', ['--control', 'hide'], /--control expects keep, blank or drop, got hide/],
    ['a bad --passthrough entry', ['--passthrough', 'email,:Name'], /--passthrough expects column or column:Header, got :Name/],
    ['--split-rows below the rows of one user', ['--split-rows', '1'], /--split-rows 1 is less than the 2 rows a user can have/],
    ['a negative --split-bytes', ['--split-bytes', '-5'], /--split-bytes expects a whole number of at least 0/],
    ['--split-rows with stdout', ['--split-rows', '5', '--output=-'], /stdout cannot be split/],
    ['--split-bytes with S3', ['--split-bytes', '5000', '--output', 's3://bucket/recs.csv'], /s3:\/\/ output cannot be split/],
  ])('%s', async (_what, flags, message) => {
    expect(await refused(flags)).toMatch(message);
  });

  it('a checkpoint refuses another preset, control or split, and resumes a job saved before these flags existed', async () => {
    const input = { path: '/in', size: 10 };
    const cp = (cfg: ExportConfig, strip = false): Checkpoint => {
      const job = fingerprint(cfg, input, '/out');
      if (strip) delete job.esp;
      return { version: CHECKPOINT_VERSION, job, done: false, input: { offset: 1, feeds: 1, line: 2, header: [] }, outputBytes: 1, errorsBytes: 0, counts: zeroCounts(), requests: 1, updatedAt: '' };
    };
    const now = async (flags: string[]) => fingerprint(await build(flags), input, '/out');
    expect(planStart(cp(await build([]), true), await now([]), false, '/cp').kind).toBe('resume');
    expect(planStart(cp(await build(['--preset', 'braze'])), await now(['--preset', 'braze']), false, '/cp').kind).toBe('resume');
    for (const [was, is] of [
      [['--preset', 'braze'], ['--preset', 'sfmc']],
      [['--preset', 'braze'], []],
      [[], ['--control', 'drop']],
      [['--split-rows', '5'], ['--split-rows', '6']],
      [['--passthrough', 'email'], []],
    ]) {
      const saved = cp(await build(was!));
      let thrown: unknown;
      try {
        planStart(saved, await now(is!), false, '/cp');
      } catch (e) {
        thrown = e;
      }
      expect(thrown, `${was!.join(' ')} then, ${is!.join(' ')} now`).toBeInstanceOf(ExitError);
      expect((thrown as ExitError).message).toMatch(/esp \(/);
    }
  });
});

describe('outputLayout: what the input header must have', () => {
  const cfgFor = async (flags: string[]) => buildConfig(await parseExportArgs(['--input', 'users.csv', '--output', '/data/out/recs.csv', '--rec-id', 'homepage', ...flags]));

  it('a passthrough column the input lacks: exit 2 naming it', async () => {
    const cfg = await cfgFor(['--passthrough', 'email,last_name']);
    expect(() => outputLayout(cfg, HEADER, 'users.csv')).toThrow(/users\.csv: --passthrough last_name: no such column in the header \(user_id,device_id,email,first_name\)/);
  });

  it('klaviyo without an email column: exit 2 pointing at --email-column', async () => {
    const cfg = await cfgFor(['--preset', 'klaviyo']);
    let err: unknown;
    try {
      outputLayout(cfg, ['user_id', 'mail'], 'users.csv');
    } catch (e) {
      err = e;
    }
    expect((err as ExitError).exitCode).toBe(2);
    expect((err as ExitError).message).toMatch(/no email column in the header; --preset klaviyo identifies users by email: name the column with --email-column/);
    expect(() => outputLayout({ ...cfg, esp: { ...cfg.esp, emailColumn: 'mail' } }, ['user_id', 'mail'], 'users.csv')).not.toThrow();
  });

  it('two output columns of one name (any case, for a preset): exit 2', async () => {
    const cfg0 = await cfgFor(['--passthrough', 'email']);
    expect(() => outputLayout(cfg0, HEADER, 'users.csv')).not.toThrow();
    const cfg = await cfgFor(['--passthrough', 'email:status']);
    expect(() => outputLayout(cfg, HEADER, 'users.csv')).toThrow(/two columns named status/);
    const sfmc = await cfgFor(['--preset', 'sfmc', '--passthrough', 'email:subscriberkey']);
    expect(() => outputLayout(sfmc, HEADER, 'users.csv')).toThrow(/two columns named subscriberkey/);
  });

  it('screens out rows the preset cannot import, before any request, with a reason', async () => {
    const items: SourceItem[] = [row('u1'), row('', 'a@b.c'), row('u3', 'Doe, Jane <jane@x.com>'), row('u4', '')];
    const run = async (flags: string[]) => {
      const layout = outputLayout(await cfgFor(flags), HEADER, 'users.csv');
      return layout.screen!(items).map((it) => (it.kind === 'bad' ? it.reason : 'user'));
    };
    expect(await run(['--preset', 'braze'])).toEqual(['user', 'no user_id: braze imports users by external_id', 'user', 'user']);
    expect(await run(['--preset', 'klaviyo'])).toEqual(['user', 'user', 'email is not a plain address (local@domain): klaviyo would refuse it', 'no email: klaviyo imports users by email']);
    expect(outputLayout(await cfgFor([]), HEADER, 'users.csv').screen).toBeUndefined();
  });
});
