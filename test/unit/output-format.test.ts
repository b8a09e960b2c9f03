import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { Profile, ProfileQuery, Recommendation } from '../../src/api/types.js';
import { CsvRows } from '../../src/output/csv.js';
import { errorsHeader, formatError } from '../../src/output/errors.js';
import { JsonlRows } from '../../src/output/jsonl.js';
import { statusOf } from '../../src/pipeline/outcome.js';
import { openCsvSource, type UserRow } from '../../src/sources/csv.js';
import { query } from '../support/query.js';


const row = (user_id: string, device_id = ''): UserRow => ({ kind: 'user', line: 2, user_id, device_id, fields: [user_id, device_id], end: 0, endFeeds: 0 });

const rec = (rec_id: string, items: string[], over: Partial<Recommendation> = {}): Recommendation => ({
  rec_id,
  child_rec_id: rec_id,
  items,
  is_control: false,
  recommendation_source: 'model',
  last_updated: 1608670720,
  ...over,
});

const profile = (over: Partial<Profile> = {}): Profile => ({
  user_id: 'u1',
  device_id: 'd1',
  recommendations: null,
  propensities: null,
  cohort_ids: null,
  amp_props: null,
  ...over,
});

/** The CSV text as a user's spreadsheet reads it: rows of cells. */
const cells = (text: string): string[][] => parse(text, { relax_column_count: true });

/** Formats one user the way the writer does: status from the profile, then the rows. */
function csvRows(csv: CsvRows, q: ProfileQuery, r: UserRow, p: Profile | null) {
  const status = p ? statusOf(p, q) : 'unknown_user';
  const f = csv.format(r, status, p);
  return { ...f, cells: cells(f.text) };
}

describe('CsvRows: header', () => {
  const head = (q: ProfileQuery, maxItems = 3) => new CsvRows({ query: q, maxItems, escapeFormulas: false }).header();

  it('is ids and status only without rec ids or anything else', () => {
    expect(head(query())).toBe('user_id,device_id,status\n');
  });

  it('has the rec columns and item_1..item_N with rec ids', () => {
    expect(head(query({ recIds: ['a'] }), 3)).toBe('user_id,device_id,rec_id,is_control,recommendation_source,last_updated,item_1,item_2,item_3,status\n');
    expect(head(query({ recIds: ['a'] }), 0)).toBe('user_id,device_id,rec_id,is_control,recommendation_source,last_updated,status\n');
  });

  it('has one propensity_<id> column per prediction id, in the order given', () => {
    expect(head(query({ predictionIds: ['p-churn', 'p-buy'] }))).toBe('user_id,device_id,propensity_p-churn,propensity_p-buy,status\n');
  });

  it('has cohort and property columns only when asked', () => {
    expect(head(query({ cohortIds: true }))).toBe('user_id,device_id,cohort_ids,status\n');
    expect(head(query({ ampProps: true }))).toBe('user_id,device_id,amp_props,status\n');
    expect(head(query({ computations: true }))).toBe('user_id,device_id,amp_props,status\n');
    expect(head(query({ compIds: ['c1'] }))).toBe('user_id,device_id,amp_props,status\n');
  });

  it('puts everything in the documented order, status last', () => {
    expect(head(query({ recIds: ['a', 'b'], predictionIds: ['p'], cohortIds: true, ampProps: true }), 2)).toBe(
      'user_id,device_id,rec_id,is_control,recommendation_source,last_updated,item_1,item_2,propensity_p,cohort_ids,amp_props,status\n',
    );
  });

  it('has as many columns as every row, for every combination of options', () => {
    const full = profile({
      recommendations: [rec('a', ['1', '2', '3', '4'])],
      propensities: [{ pred_id: 'p', prop: 0.5, prop_type: 'score' }],
      cohort_ids: ['c1'],
      amp_props: { plan: 'pro' },
    });
    for (const recIds of [[], ['a'], ['a', 'missing']])
      for (const predictionIds of [[], ['p', 'q']])
        for (const cohortIds of [false, true])
          for (const ampProps of [false, true])
            for (const maxItems of [0, 2, 10]) {
              const q = query({ recIds, predictionIds, cohortIds, ampProps });
              const csv = new CsvRows({ query: q, maxItems, escapeFormulas: false });
              const width = cells(csv.header())[0]!.length;
              for (const p of [full, profile(), null]) {
                for (const line of csvRows(csv, q, row('u1', 'd1'), p).cells) expect(line).toHaveLength(width);
              }
            }
  });
});

describe('CsvRows: rows', () => {
  const q = query({ recIds: ['homepage', 'email'], predictionIds: ['p-churn'] });
  const csv = new CsvRows({ query: q, maxItems: 3, escapeFormulas: false });
  const churn = [{ pred_id: 'p-churn', prop: 0.25, prop_type: 'score' as const }];

  it('gives a known user one row per rec, in the requested order, whatever order the API used', () => {
    const p = profile({
      recommendations: [rec('email', ['x', 'y'], { is_control: true, recommendation_source: 'random', last_updated: 1608670658 }), rec('homepage', ['a', 'b', 'c'])],
      propensities: churn,
    });
    const out = csvRows(csv, q, row('u1', 'd1'), p);
    expect(out.rows).toBe(2);
    expect(out.text).toBe('u1,d1,homepage,false,model,1608670720,a,b,c,0.25,ok\n' + 'u1,d1,email,true,random,1608670658,x,y,,0.25,ok\n');
  });

  it('writes a requested rec the API left out with its rec_id, empty items and status no_recs', () => {
    const p = profile({ recommendations: [rec('homepage', ['a'])], propensities: churn });
    const out = csvRows(csv, q, row('u1', 'd1'), p);
    expect(out.rows).toBe(2);
    expect(out.cells).toEqual([
      ['u1', 'd1', 'homepage', 'false', 'model', '1608670720', 'a', '', '', '0.25', 'ok'],
      ['u1', 'd1', 'email', '', '', '', '', '', '', '0.25', 'no_recs'],
    ]);
  });

  it.each([
    ['null', null],
    ['empty', []],
  ])('gives a user whose recommendations are %s one row with empty rec cells, status no_recs and its propensities', (_name, recommendations) => {
    const out = csvRows(csv, q, row('u1', 'd1'), profile({ recommendations, propensities: churn }));
    expect(out.rows).toBe(1);
    expect(out.text).toBe('u1,d1,,,,,,,,0.25,no_recs\n');
  });

  it('gives an unknown user one row with empty cells and status unknown_user', () => {
    const out = csvRows(csv, q, row('ghost', ''), null);
    expect(out.rows).toBe(1);
    expect(out.text).toBe('ghost,,,,,,,,,,unknown_user\n');
  });

  it('uses the input row ids, not the API ones', () => {
    const out = csvRows(csv, q, row('', 'dev-9'), profile({ user_id: 'server-side', device_id: 'other', recommendations: [rec('homepage', ['a']), rec('email', ['b'])] }));
    expect(out.cells.map((c) => c.slice(0, 2))).toEqual([
      ['', 'dev-9'],
      ['', 'dev-9'],
    ]);
  });

  it('writes is_control as true/false and leaves unknown values empty', () => {
    const p = profile({
      recommendations: [rec('homepage', ['a'], { is_control: true }), rec('email', ['b'], { is_control: null, recommendation_source: null, last_updated: null })],
    });
    expect(csvRows(csv, q, row('u1'), p).cells.map((c) => c.slice(2, 6))).toEqual([
      ['homepage', 'true', 'model', '1608670720'],
      ['email', '', '', ''],
    ]);
  });

  it('keeps a control user items as the API returned them', () => {
    const p = profile({ recommendations: [rec('homepage', ['r1', 'r2'], { is_control: true }), rec('email', [])] });
    expect(csvRows(csv, q, row('u1'), p).cells[0]!.slice(3, 9)).toEqual(['true', 'model', '1608670720', 'r1', 'r2', '']);
  });

  it('cuts items to maxItems and pads short lists with empty cells', () => {
    const p = profile({ recommendations: [rec('homepage', ['1', '2', '3', '4', '5']), rec('email', ['only'])] });
    expect(csvRows(csv, q, row('u1'), p).cells.map((c) => c.slice(6, 9))).toEqual([
      ['1', '2', '3'],
      ['only', '', ''],
    ]);
  });

  it('leaves a propensity the API did not give empty, and writes 0 as 0', () => {
    const q2 = query({ predictionIds: ['a', 'b', 'c'] });
    const csv2 = new CsvRows({ query: q2, maxItems: 3, escapeFormulas: false });
    const p = profile({
      propensities: [
        { pred_id: 'c', prop: 0, prop_type: 'pct' },
        { pred_id: 'a', prop: 87, prop_type: 'pct' },
      ],
    });
    expect(csvRows(csv2, q2, row('u1'), p).text).toBe('u1,,87,,0,ok\n');
  });

  it('gives one row per user without rec ids, status ok', () => {
    const q2 = query({ predictionIds: ['p-churn'] });
    const csv2 = new CsvRows({ query: q2, maxItems: 10, escapeFormulas: false });
    const out = csvRows(csv2, q2, row('u1', 'd1'), profile({ recommendations: [rec('homepage', ['a'])], propensities: churn }));
    expect(out.rows).toBe(1);
    expect(out.text).toBe('u1,d1,0.25,ok\n');
  });

  it('writes cohort ids joined with ; and properties as JSON when asked', () => {
    const q2 = query({ cohortIds: true, ampProps: true });
    const csv2 = new CsvRows({ query: q2, maxItems: 10, escapeFormulas: false });
    const out = csvRows(csv2, q2, row('u1'), profile({ cohort_ids: ['c1', 'c2'], amp_props: { plan: 'pro', visits: 3 } }));
    expect(out.cells).toEqual([['u1', '', 'c1;c2', '{"plan":"pro","visits":3}', 'ok']]);
  });
});

describe('CsvRows: quoting and formulas', () => {
  const q = query({ recIds: ['r'] });

  it('quotes commas, quotes and newlines and keeps non-ASCII verbatim', () => {
    const csv = new CsvRows({ query: q, maxItems: 4, escapeFormulas: false });
    const items = ['a,b', 'say "hi"', 'two\nlines', 'Zoë 用户 🎉'];
    const out = csvRows(csv, q, row('u,1', 'ü'), profile({ recommendations: [rec('r', items)] }));
    expect(out.text).toBe('"u,1",ü,r,false,model,1608670720,"a,b","say ""hi""","two\nlines",Zoë 用户 🎉,ok\n');
    expect(out.cells[0]!.slice(6, 10)).toEqual(items);
  });

  const formulas = ['=1+1', '+x', '-x', '@x'];

  it('writes cells starting with = + - @ verbatim by default', () => {
    const csv = new CsvRows({ query: q, maxItems: 4, escapeFormulas: false });
    const out = csvRows(csv, q, row('=1+1'), profile({ recommendations: [rec('r', formulas)] }));
    expect(out.cells[0]![0]).toBe('=1+1');
    expect(out.cells[0]!.slice(6, 10)).toEqual(formulas);
  });

  it("prefixes them with ' when escapeFormulas is on, and leaves other cells alone", () => {
    const csv = new CsvRows({ query: q, maxItems: 5, escapeFormulas: true });
    const out = csvRows(csv, q, row('=1+1', 'd1'), profile({ recommendations: [rec('r', [...formulas, 'plain'])] }));
    expect(out.cells[0]![0]).toBe("'=1+1");
    expect(out.cells[0]![1]).toBe('d1');
    expect(out.cells[0]!.slice(6, 11)).toEqual(["'=1+1", "'+x", "'-x", "'@x", 'plain']);
  });
});

describe('JsonlRows', () => {
  const obj = (j: JsonlRows, r: UserRow, status: 'ok' | 'no_recs' | 'unknown_user', p: Profile | null) => {
    const f = j.format(r, status, p);
    expect(f.rows).toBe(1);
    expect(f.text.endsWith('\n')).toBe(true);
    expect(f.text.slice(0, -1)).not.toContain('\n');
    return JSON.parse(f.text) as Record<string, unknown>;
  };

  it('has no header', () => {
    expect(new JsonlRows(null).header()).toBe('');
  });

  it('writes one object per user with the documented keys, in order', () => {
    const p = profile({
      recommendations: [rec('homepage', ['a', 'b'])],
      propensities: [{ pred_id: 'p', prop: 0.5, prop_type: 'score' }],
      cohort_ids: ['c1'],
      amp_props: { plan: 'pro' },
    });
    const o = obj(new JsonlRows(null), row('u1', 'd1'), 'ok', p);
    expect(Object.keys(o)).toEqual(['user_id', 'device_id', 'status', 'recommendations', 'propensities', 'cohort_ids', 'amp_props']);
    expect(o).toEqual({
      user_id: 'u1',
      device_id: 'd1',
      status: 'ok',
      recommendations: [{ rec_id: 'homepage', child_rec_id: 'homepage', items: ['a', 'b'], is_control: false, recommendation_source: 'model', last_updated: 1608670720 }],
      propensities: [{ pred_id: 'p', prop: 0.5, prop_type: 'score' }],
      cohort_ids: ['c1'],
      amp_props: { plan: 'pro' },
    });
  });

  it('writes null for an empty id and for every part not asked or not known', () => {
    expect(obj(new JsonlRows(null), row('', 'd1'), 'no_recs', profile())).toEqual({
      user_id: null,
      device_id: 'd1',
      status: 'no_recs',
      recommendations: null,
      propensities: null,
      cohort_ids: null,
      amp_props: null,
    });
  });

  it('writes an unknown user with nulls', () => {
    expect(obj(new JsonlRows(5), row('ghost'), 'unknown_user', null)).toEqual({
      user_id: 'ghost',
      device_id: null,
      status: 'unknown_user',
      recommendations: null,
      propensities: null,
      cohort_ids: null,
      amp_props: null,
    });
  });

  it('keeps every item unless maxItems is given', () => {
    const items = Array.from({ length: 25 }, (_, i) => `i${i}`);
    const p = profile({ recommendations: [rec('homepage', items)] });
    expect((obj(new JsonlRows(null), row('u1'), 'ok', p).recommendations as Recommendation[])[0]!.items).toEqual(items);
    expect((obj(new JsonlRows(3), row('u1'), 'ok', p).recommendations as Recommendation[])[0]!.items).toEqual(['i0', 'i1', 'i2']);
  });

  it('keeps child_rec_id and the rest of each rec when cutting items', () => {
    const p = profile({ recommendations: [rec('email', ['x', 'y', 'z'], { child_rec_id: 'email-b', is_control: true })] });
    expect(obj(new JsonlRows(1), row('u1'), 'ok', p).recommendations).toEqual([
      { rec_id: 'email', child_rec_id: 'email-b', items: ['x'], is_control: true, recommendation_source: 'model', last_updated: 1608670720 },
    ]);
  });

  it('keeps an empty recommendations list as the API gave it', () => {
    expect(obj(new JsonlRows(null), row('u1'), 'no_recs', profile({ recommendations: [] })).recommendations).toEqual([]);
  });

  it('keeps ids with newlines and quotes on one line', () => {
    expect(obj(new JsonlRows(null), row('a"\nb'), 'ok', profile()).user_id).toBe('a"\nb');
  });
});

describe('errors file', () => {
  it('has the documented header', () => {
    expect(errorsHeader()).toBe('user_id,device_id,line,reason,http_status,attempts\n');
  });

  it('writes a failed user with its line, reason, http status and attempts', () => {
    expect(formatError({ user_id: 'u1', device_id: 'd1', line: 7, reason: 'server error 503', httpStatus: 503, attempts: 7 })).toBe('u1,d1,7,server error 503,503,7\n');
  });

  it('leaves http_status empty without a status and writes 0 attempts for an unused row', () => {
    expect(formatError({ user_id: '', device_id: '', line: 3, reason: 'no user_id or device_id' })).toBe(',,3,no user_id or device_id,,0\n');
    expect(formatError({ user_id: 'u2', device_id: '', line: 4, reason: 'timeout', httpStatus: null, attempts: 3 })).toBe('u2,,4,timeout,,3\n');
  });

  it('quotes reasons and ids with commas, quotes and newlines', () => {
    expect(formatError({ user_id: 'a,b', device_id: '', line: 9, reason: '400 bad "id",\nsorry', httpStatus: 400, attempts: 1 })).toBe(
      '"a,b",,9,"400 bad ""id"",\nsorry",400,1\n',
    );
  });

  it('is itself a valid --input: a rerun reads the same users back', async () => {
    const text =
      errorsHeader() +
      formatError({ user_id: 'u1', device_id: 'd1', line: 2, reason: 'server error 500', httpStatus: 500, attempts: 7 }) +
      formatError({ user_id: '', device_id: 'dev,2', line: 5, reason: 'timeout\nagain', httpStatus: null, attempts: 3 }) +
      formatError({ user_id: ' u3 ', device_id: '', line: 9, reason: '404 x', httpStatus: 404, attempts: 1 });
    const src = await openCsvSource(Readable.from([Buffer.from(text)]), { userIdColumn: 'user_id', deviceIdColumn: 'device_id', name: 'errors.csv' });
    const got = [];
    for await (const item of src.rows) got.push([item.kind, item.user_id, item.device_id]);
    expect(got).toEqual([
      ['user', 'u1', 'd1'],
      ['user', '', 'dev,2'],
      ['user', 'u3', ''],
    ]);
  });
});
