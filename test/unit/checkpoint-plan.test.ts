import { describe, expect, it } from 'vitest';
import { planStart } from '../../src/checkpoint/plan.js';
import { type Checkpoint, CHECKPOINT_VERSION, invalidReason, type JobFingerprint } from '../../src/checkpoint/state.js';
import { fingerprint } from '../../src/wiring/job.js';
import { buildConfig, type ExportArgs } from '../../src/config.js';
import { ExitError } from '../../src/errors.js';
import { exportDefaults } from '../../src/flags.js';
import { zeroCounts } from '../../src/pipeline/counters.js';

const PATH = '/data/out/recs.csv.checkpoint.json';
const INPUT = { path: '/data/in/users.csv', size: 1200, mtimeMs: Date.parse('2024-03-05T01:00:00Z') };

const job = (over: Partial<JobFingerprint> = {}): JobFingerprint => ({
  input: INPUT,
  output: '/data/out/recs.csv',
  errors: '/data/out/recs.csv.errors.csv',
  format: 'csv',
  userIdColumn: 'user_id',
  deviceIdColumn: 'device_id',
  recIds: ['homepage'],
  recType: null,
  predictionIds: [],
  propensityType: null,
  ampProps: false,
  cohortIds: false,
  computations: false,
  compIds: [],
  maxItems: 10,
  escapeFormulas: false,
  ...over,
});

const checkpoint = (j: JobFingerprint, done: boolean): Checkpoint => ({
  version: CHECKPOINT_VERSION,
  job: j,
  done,
  input: { offset: 340, feeds: 12, line: 12, header: ['user_id', 'device_id'] },
  outputBytes: 2048,
  errorsBytes: 60,
  counts: { ...zeroCounts(), users: 11, ok: 10, skipped: 1, rows: 10 },
  requests: 11,
  updatedAt: '2024-03-05T01:02:03.000Z',
});

/** The refusal planStart throws; fails the test when it does not throw one. */
function refusal(saved: Checkpoint, now: JobFingerprint): ExitError {
  let thrown: unknown;
  try {
    planStart(saved, now, false, PATH);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ExitError);
  const e = thrown as ExitError;
  expect(e.exitCode).toBe(2);
  expect(e.code).toBe('checkpoint');
  expect(e.message).toContain(PATH);
  expect(e.message).toContain('--fresh');
  expect(e.message).not.toContain('\n');
  return e;
}

describe('planStart', () => {
  it('starts fresh without a checkpoint, with nothing to say', () => {
    expect(planStart(undefined, job(), false, PATH)).toEqual({ kind: 'fresh' });
    expect(planStart(undefined, job(), true, PATH)).toEqual({ kind: 'fresh' });
  });

  it('starts fresh with --fresh, saying the checkpoint is discarded, whatever it holds', () => {
    for (const saved of [checkpoint(job(), false), checkpoint(job(), true), checkpoint(job({ format: 'jsonl' }), false)]) {
      const plan = planStart(saved, job(), true, PATH);
      expect(plan.kind).toBe('fresh');
      expect(plan).toMatchObject({ note: expect.stringContaining(PATH) });
      expect(plan).toMatchObject({ note: expect.stringContaining('--fresh') });
    }
  });

  it('does nothing for the same job already done', () => {
    const saved = checkpoint(job(), true);
    expect(planStart(saved, job(), false, PATH)).toEqual({ kind: 'complete', from: saved });
  });

  it('resumes the same job left unfinished', () => {
    const saved = checkpoint(job(), false);
    expect(planStart(saved, job(), false, PATH)).toEqual({ kind: 'resume', from: saved });
  });

  it('treats list options with the same content as the same job', () => {
    const saved = checkpoint(JSON.parse(JSON.stringify(job({ recIds: ['a', 'b'] }))) as JobFingerprint, false);
    expect(planStart(saved, job({ recIds: ['a', 'b'] }), false, PATH).kind).toBe('resume');
  });

  it('refuses another unfinished job whose input file changed', () => {
    const e = refusal(checkpoint(job(), false), job({ input: { ...INPUT, size: 1500, mtimeMs: INPUT.mtimeMs + 60_000 } }));
    expect(e.message).toMatch(/input file changed \(1200 bytes then, 1500 bytes now/);
  });

  it('refuses another unfinished job whose S3 input object changed, naming both ETags', () => {
    const obj = { path: 's3://warehouse/users.csv', size: 1200, etag: '"aaa"' };
    const e = refusal(checkpoint(job({ input: obj }), false), job({ input: { ...obj, etag: '"bbb"' } }));
    expect(e.message).toMatch(/input object changed \(ETag "aaa" then, "bbb" now\)/);
    expect(planStart(checkpoint(job({ input: obj }), false), job({ input: { ...obj } }), false, PATH).kind).toBe('resume');
  });

  it('refuses when only the modification time changed', () => {
    expect(refusal(checkpoint(job(), false), job({ input: { ...INPUT, mtimeMs: INPUT.mtimeMs + 1 } })).message).toMatch(/input file changed/);
  });

  it('refuses another unfinished job reading another input', () => {
    const e = refusal(checkpoint(job(), false), job({ input: { ...INPUT, path: '/data/in/other.csv' } }));
    expect(e.message).toContain('/data/in/users.csv');
    expect(e.message).toContain('/data/in/other.csv');
  });

  it('refuses when the rec ids changed, naming both lists', () => {
    const e = refusal(checkpoint(job(), false), job({ recIds: ['homepage', 'email'] }));
    expect(e.message).toMatch(/recIds \(\["homepage"\] then, \["homepage","email"\] now\)/);
  });

  it('refuses when the rec ids were reordered (the rows would come out in another order)', () => {
    const saved = checkpoint(job({ recIds: ['a', 'b'] }), false);
    expect(refusal(saved, job({ recIds: ['b', 'a'] })).message).toMatch(/recIds/);
  });

  it('refuses when the format changed', () => {
    expect(refusal(checkpoint(job(), false), job({ format: 'jsonl', maxItems: null })).message).toMatch(/format \("csv" then, "jsonl" now\)/);
  });

  it('names every difference together', () => {
    const e = refusal(checkpoint(job(), false), job({ input: { ...INPUT, size: 1 }, format: 'jsonl', recIds: [], escapeFormulas: true }));
    for (const what of ['input file changed', 'format', 'recIds', 'escapeFormulas']) expect(e.message).toContain(what);
    expect(e.message).not.toMatch(/userIdColumn|maxItems/);
  });

  it('starts another job fresh when the old one finished, saying why', () => {
    const plan = planStart(checkpoint(job(), true), job({ input: { ...INPUT, size: 9999 } }), false, PATH);
    expect(plan.kind).toBe('fresh');
    expect(plan).toMatchObject({ note: expect.stringContaining(PATH) });
    expect(plan).toMatchObject({ note: expect.stringContaining('input file changed') });
  });
});

describe('planStart with fingerprints of real option sets', () => {
  const args = (over: Partial<ExportArgs> = {}): ExportArgs =>
    ({ ...exportDefaults(), input: '/data/in/users.csv', output: '/data/out/recs.csv', recId: 'homepage', ...over }) as ExportArgs;
  const fp = (over: Partial<ExportArgs> = {}) => fingerprint(buildConfig(args(over)), INPUT, '/data/out/recs.csv');

  it('resumes when only speed or logging options changed', () => {
    const saved = checkpoint(fp(), false);
    const now = fp({ concurrency: 4, rateLimit: 100, rateInterval: 10, timeout: 5, maxRetries: 2, grace: 1, logLevel: 'debug' });
    expect(planStart(saved, now, false, PATH).kind).toBe('resume');
  });

  it.each<[string, Partial<ExportArgs>]>([
    ['--max-items', { maxItems: 3 }],
    ['--escape-formulas', { escapeFormulas: true }],
    ['--prediction-id', { predictionId: 'p1' }],
    ['--amp-props', { ampProps: true }],
    ['--cohort-ids', { cohortIds: true }],
    ['--rec-type', { recType: 'random' }],
    ['--user-id-column', { userIdColumn: 'uid' }],
    ['--errors', { errors: '/elsewhere/errors.csv' }],
  ])('refuses to resume when %s changed', (_flag, over) => {
    expect(() => planStart(checkpoint(fp(), false), fp(over), false, PATH)).toThrow(ExitError);
  });
});

describe('invalidReason', () => {
  const valid = () => JSON.parse(JSON.stringify(checkpoint(job(), false))) as Record<string, unknown>;

  it('accepts a checkpoint as saved', () => {
    expect(invalidReason(valid())).toBeNull();
    expect(invalidReason(JSON.parse(JSON.stringify(checkpoint(job(), true))))).toBeNull();
  });

  it('refuses what is not an object', () => {
    for (const v of [null, [], 'checkpoint', 42, undefined]) expect(invalidReason(v)).toBe('not a JSON object');
  });

  it('refuses another version, naming it', () => {
    expect(invalidReason({ ...valid(), version: 2 })).toBe('version 2, expected 1');
    expect(invalidReason({ ...valid(), version: '1' })).toBe('version "1", expected 1');
    const { version: _v, ...noVersion } = valid();
    expect(invalidReason(noVersion)).toMatch(/^version undefined, expected 1$/);
  });

  it.each([
    ['job', (c: Record<string, any>) => delete c.job],
    ['job.input', (c: Record<string, any>) => delete c.job.input],
    ['input', (c: Record<string, any>) => delete c.input],
    ['input.offset', (c: Record<string, any>) => delete c.input.offset],
    ['input.feeds', (c: Record<string, any>) => delete c.input.feeds],
    ['input.line', (c: Record<string, any>) => delete c.input.line],
    ['input.header', (c: Record<string, any>) => delete c.input.header],
    ['outputBytes', (c: Record<string, any>) => delete c.outputBytes],
    ['errorsBytes', (c: Record<string, any>) => delete c.errorsBytes],
    ['counts', (c: Record<string, any>) => delete c.counts],
    ['done', (c: Record<string, any>) => delete c.done],
  ])('refuses a checkpoint without %s', (_what, cut) => {
    const c = valid();
    cut(c);
    expect(invalidReason(c)).toEqual(expect.any(String));
  });

  it.each([
    ['a negative offset', (c: Record<string, any>) => (c.input.offset = -1)],
    ['a fractional line', (c: Record<string, any>) => (c.input.line = 1.5)],
    ['an offset as text', (c: Record<string, any>) => (c.input.offset = '340')],
    ['output bytes as null', (c: Record<string, any>) => (c.outputBytes = null)],
    ['done as text', (c: Record<string, any>) => (c.done = 'true')],
    ['a header that is not a list', (c: Record<string, any>) => (c.input.header = 'user_id')],
    ['an S3 output state without an upload id', (c: Record<string, any>) => (c.outputState = { bucket: 'b', key: 'k', parts: [], segments: [], bytes: 0 })],
    ['an S3 errors state without segments', (c: Record<string, any>) => (c.errorsState = { bucket: 'b', key: 'k', uploadId: null, parts: [], bytes: 0 })],
  ])('refuses %s', (_what, spoil) => {
    const c = valid();
    spoil(c);
    expect(invalidReason(c)).toEqual(expect.any(String));
  });

  it('names what is missing', () => {
    const c = valid();
    delete (c.input as Record<string, unknown>).offset;
    expect(invalidReason(c)).toBe('no input position');
    const d = valid();
    delete d.outputBytes;
    expect(invalidReason(d)).toBe('no committed output lengths');
  });
});
