import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, type ExportArgs, type ExportConfig } from '../../src/config.js';
import { ExitError } from '../../src/errors.js';
import { exportDefaults } from '../../src/flags.js';

/** What yargs hands `export` when only --input and --output are given, plus `over`. */
const args = (over: Partial<ExportArgs> = {}): ExportArgs =>
  ({ ...exportDefaults(), input: 'users.csv', output: '/data/out/recs.csv', ...over }) as ExportArgs;

const NOW = new Date('2024-03-05T23:30:00Z');
const build = (over: Partial<ExportArgs> = {}): ExportConfig => buildConfig(args(over), NOW);

/** The usage error buildConfig throws for `over`; fails the test when it does not throw one. */
function usageProblem(over: Partial<ExportArgs>): ExitError {
  let thrown: unknown;
  try {
    build(over);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ExitError);
  const e = thrown as ExitError;
  expect(e.exitCode).toBe(2);
  expect(e.code).toBe('usage');
  // One clear line, never a stack trace or a multi-line dump.
  expect(e.message).not.toContain('\n');
  return e;
}

describe('buildConfig: S3 locations', () => {
  it('parses s3://bucket/key and puts the checkpoint and errors objects beside an S3 output', () => {
    const cfg = build({ input: 's3://warehouse/unload/users.csv', output: 's3://exports/recs-{date}.csv' });
    expect(cfg.input).toEqual({ kind: 's3', url: 's3://warehouse/unload/users.csv', bucket: 'warehouse', key: 'unload/users.csv' });
    expect(cfg.output).toEqual({ kind: 's3', url: 's3://exports/recs-2024-03-05.csv', bucket: 'exports', key: 'recs-2024-03-05.csv' });
    expect(cfg.errorsPath).toBe('s3://exports/recs-2024-03-05.csv.errors.csv');
    expect(cfg.checkpointPath).toBe('s3://exports/recs-2024-03-05.csv.checkpoint.json');
  });

  it('takes --checkpoint and --errors on S3 for any output, {date} filled; local ones stay paths', () => {
    const cfg = build({ checkpoint: 's3://state/{date}.json', errors: 's3://state/{date}-errors.csv' });
    expect(cfg.checkpointPath).toBe('s3://state/2024-03-05.json');
    expect(cfg.errorsPath).toBe('s3://state/2024-03-05-errors.csv');
    expect(build({ output: 's3://b/o.csv', checkpoint: 'cp.json' }).checkpointPath).toBe(resolve('cp.json'));
  });

  it('S3 options: path style, SSE, KMS key, part size in MiB', () => {
    expect(build().s3).toEqual({ pathStyle: false, sse: undefined, kmsKeyId: undefined, partSize: 8 * 1024 * 1024 });
    expect(build({ s3PathStyle: true, s3Sse: 'aws:kms', s3KmsKeyId: 'alias/x', s3PartSize: 16 }).s3).toEqual({
      pathStyle: true,
      sse: 'aws:kms',
      kmsKeyId: 'alias/x',
      partSize: 16 * 1024 * 1024,
    });
    expect(usageProblem({ s3Sse: 'aes' }).message).toMatch(/--s3-sse expects AES256 or aws:kms, got aes/);
    expect(usageProblem({ s3KmsKeyId: 'k' }).message).toMatch(/--s3-kms-key-id needs --s3-sse aws:kms/);
    expect(usageProblem({ s3Sse: 'AES256', s3KmsKeyId: 'k' }).message).toMatch(/--s3-kms-key-id needs --s3-sse aws:kms/);
    expect(usageProblem({ s3PartSize: 4 }).message).toMatch(/--s3-part-size expects a whole number from 5 to 5120, got 4/);
  });
});

describe('buildConfig: defaults', () => {
  it('takes the format from the output extension: .jsonl and .ndjson give jsonl, anything else csv', () => {
    expect(build({ output: '/o/x.jsonl' }).format).toBe('jsonl');
    expect(build({ output: '/o/x.ndjson' }).format).toBe('jsonl');
    expect(build({ output: '/o/x.JSONL' }).format).toBe('jsonl');
    expect(build({ output: '/o/x.csv' }).format).toBe('csv');
    expect(build({ output: '/o/x.txt' }).format).toBe('csv');
    expect(build({ output: '/o/jsonl' }).format).toBe('csv');
    expect(build({ output: '-' }).format).toBe('csv');
  });

  it('lets --format override the extension', () => {
    expect(build({ output: '/o/x.csv', format: 'jsonl' }).format).toBe('jsonl');
    expect(build({ output: '/o/x.jsonl', format: 'csv' }).format).toBe('csv');
  });

  it('puts the errors file and the checkpoint beside the output', () => {
    const cfg = build({ output: '/data/out/recs.csv' });
    expect(cfg.output).toEqual({ kind: 'file', path: '/data/out/recs.csv' });
    expect(cfg.errorsPath).toBe('/data/out/recs.csv.errors.csv');
    expect(cfg.checkpointPath).toBe('/data/out/recs.csv.checkpoint.json');
  });

  it('resolves relative paths against the working directory', () => {
    const cfg = build({ input: 'in/users.csv', output: 'out/recs.csv' });
    expect(cfg.input).toEqual({ kind: 'file', path: resolve('in/users.csv') });
    expect(cfg.output).toEqual({ kind: 'file', path: resolve('out/recs.csv') });
    expect(cfg.errorsPath).toBe(`${resolve('out/recs.csv')}.errors.csv`);
  });

  it('uses the given --errors and --checkpoint paths', () => {
    const cfg = build({ errors: '/e/failed.csv', checkpoint: '/c/job.json' });
    expect(cfg.errorsPath).toBe('/e/failed.csv');
    expect(cfg.checkpointPath).toBe('/c/job.json');
  });

  it('has no checkpoint when writing to stdout, and still an errors file', () => {
    const cfg = build({ output: '-' });
    expect(cfg.output).toEqual({ kind: 'stdio' });
    expect(cfg.checkpointPath).toBeNull();
    expect(cfg.errorsPath).toMatch(/\.errors\.csv$/);
  });

  it('reads stdin for --input -', () => {
    expect(build({ input: '-' }).input).toEqual({ kind: 'stdio' });
  });

  it('keeps 10 item columns for CSV and every item for JSONL unless --max-items is given', () => {
    expect(build({ output: '/o/x.csv' }).maxItems).toBe(10);
    expect(build({ output: '/o/x.jsonl' }).maxItems).toBeNull();
    expect(build({ output: '/o/x.csv', format: 'jsonl' }).maxItems).toBeNull();
    expect(build({ output: '/o/x.jsonl', maxItems: 3 }).maxItems).toBe(3);
    expect(build({ output: '/o/x.csv', maxItems: 25 }).maxItems).toBe(25);
    expect(build({ output: '/o/x.csv', maxItems: 0 }).maxItems).toBe(0);
  });

  it('has the documented defaults for the rest', () => {
    const cfg = build();
    expect(cfg.apiUrl.href).toBe('https://profile-api.amplitude.com/');
    expect(cfg.rateLimit).toBe(600);
    expect(cfg.rateIntervalMs).toBe(60_000);
    expect(cfg.concurrency).toBe(16);
    expect(cfg.graceMs).toBe(10_000);
    expect(cfg.fresh).toBe(false);
    expect(cfg.escapeFormulas).toBe(false);
    expect(cfg.userIdColumn).toBe('user_id');
    expect(cfg.deviceIdColumn).toBe('device_id');
    expect(cfg.query).toEqual({
      recIds: [],
      recType: undefined,
      ampProps: false,
      cohortIds: false,
      computations: false,
      compIds: [],
      predictionIds: [],
      propensityType: undefined,
    });
  });

  it('turns seconds into milliseconds, fractions included', () => {
    const cfg = build({ rateInterval: 0.5, timeout: 2.5, grace: 0 });
    expect(cfg.rateIntervalMs).toBe(500);
    expect(cfg.timeoutMs).toBe(2500);
    expect(cfg.graceMs).toBe(0);
  });

  it('accepts a rate limit of 0 (no limit)', () => {
    expect(build({ rateLimit: 0 }).rateLimit).toBe(0);
  });
});

describe('buildConfig: {date}', () => {
  it('fills {date} with the run date (UTC) in the output, and so in the derived paths', () => {
    const cfg = build({ output: '/exports/recs-{date}.csv' });
    expect(cfg.output).toEqual({ kind: 'file', path: '/exports/recs-2024-03-05.csv' });
    expect(cfg.errorsPath).toBe('/exports/recs-2024-03-05.csv.errors.csv');
    expect(cfg.checkpointPath).toBe('/exports/recs-2024-03-05.csv.checkpoint.json');
  });

  it('fills every {date}, also in --errors and --checkpoint', () => {
    const cfg = build({ output: '/x/{date}/recs-{date}.jsonl', errors: '/e/{date}.csv', checkpoint: '/c/{date}.json' });
    expect(cfg.output).toEqual({ kind: 'file', path: '/x/2024-03-05/recs-2024-03-05.jsonl' });
    expect(cfg.format).toBe('jsonl');
    expect(cfg.errorsPath).toBe('/e/2024-03-05.csv');
    expect(cfg.checkpointPath).toBe('/c/2024-03-05.json');
  });
});

describe('buildConfig: lists', () => {
  it('splits and trims comma lists, dropping empty entries', () => {
    const cfg = build({ recId: ' a, b,,c', predictionId: 'p1 ,p2', compId: ',c1,' });
    expect(cfg.query.recIds).toEqual(['a', 'b', 'c']);
    expect(cfg.query.predictionIds).toEqual(['p1', 'p2']);
    expect(cfg.query.compIds).toEqual(['c1']);
  });

  it('passes the other profile parts through', () => {
    const cfg = build({ recId: 'r', recType: 'random', predictionId: 'p', propensityType: 'pct', ampProps: true, cohortIds: true, computations: true });
    expect(cfg.query).toMatchObject({ recType: 'random', propensityType: 'pct', ampProps: true, cohortIds: true, computations: true });
  });
});

describe('buildConfig: bad values (exit 2, naming the flag and what it got)', () => {
  const cases: Array<[string, Partial<ExportArgs>, RegExp]> = [
    ['missing --input', { input: undefined }, /--input is required/],
    ['empty --input', { input: '' }, /--input is required/],
    ['missing --output', { output: undefined }, /--output is required/],
    ['unknown --format', { format: 'xml' }, /--format expects csv or jsonl, got xml/],
    ['unknown --rec-type', { recId: 'r', recType: 'best' }, /--rec-type expects model or random, got best/],
    ['--rec-type without --rec-id', { recType: 'model' }, /--rec-type needs --rec-id/],
    ['unknown --propensity-type', { predictionId: 'p', propensityType: 'raw' }, /--propensity-type expects score or pct, got raw/],
    ['--propensity-type without --prediction-id', { propensityType: 'score' }, /--propensity-type needs --prediction-id/],
    ['negative --max-items', { maxItems: -1 }, /--max-items expects a whole number .*got -1/],
    ['fractional --max-items', { maxItems: 1.5 }, /--max-items expects a whole number .*got 1\.5/],
    ['non-number --rate-limit', { rateLimit: Number.NaN }, /--rate-limit expects a whole number .*got something that is not a number/],
    ['negative --rate-limit', { rateLimit: -5 }, /--rate-limit .*got -5/],
    ['zero --rate-interval', { rateInterval: 0 }, /--rate-interval expects a number above 0, got 0/],
    ['non-number --rate-interval', { rateInterval: Number.NaN }, /--rate-interval .*got something that is not a number/],
    ['zero --concurrency', { concurrency: 0 }, /--concurrency expects a whole number from 1 to 1024, got 0/],
    ['huge --concurrency', { concurrency: 5000 }, /--concurrency .*got 5000/],
    ['zero --timeout', { timeout: 0 }, /--timeout expects a number above 0, got 0/],
    ['too many --max-retries', { maxRetries: 101 }, /--max-retries .*got 101/],
    ['negative --grace', { grace: -1 }, /--grace expects a number of at least 0, got -1/],
    ['unknown --log-level', { logLevel: 'loud' }, /--log-level expects one of .*got loud/],
    ['--api-url not a URL', { apiUrl: 'not a url' }, /--api-url is not a URL: not a url/],
    ['--api-url not http(s)', { apiUrl: 'ftp://example.com' }, /--api-url must be http\(s\), got ftp:\/\/example\.com/],
    ['empty id column name', { userIdColumn: '' }, /id column names must not be empty/],
  ];
  it.each(cases)('%s', (_name, over, message) => {
    expect(usageProblem(over).message).toMatch(message);
  });

  it('reports every problem in one message', () => {
    const e = usageProblem({ rateLimit: Number.NaN, concurrency: 0, format: 'xml', apiUrl: 'nope', logLevel: 'loud' });
    expect(e.message).toContain('--rate-limit');
    expect(e.message).toContain('--concurrency');
    expect(e.message).toContain('--format');
    expect(e.message).toContain('--api-url');
    expect(e.message).toContain('--log-level');
  });

  it('refuses an s3:// URL that does not name one object, naming the flag and the URL', () => {
    expect(usageProblem({ input: 's3://bucket' }).message).toMatch(/--input s3:\/\/bucket: no key \(expected s3:\/\/bucket\/key\)/);
    expect(usageProblem({ input: 's3:///users.csv' }).message).toMatch(/--input s3:\/\/\/users\.csv: no bucket/);
    expect(usageProblem({ output: 's3://bucket/exports/' }).message).toMatch(/--output s3:\/\/bucket\/exports\/: the key ends with \//);
    expect(usageProblem({ errors: 's3://bucket/' }).message).toMatch(/--errors s3:\/\/bucket\/: no key/);
    expect(usageProblem({ checkpoint: 's3://' }).message).toMatch(/--checkpoint s3:\/\/: no bucket/);
    expect(usageProblem({ summary: 's3://bucket/s.json' }).message).toMatch(/--summary s3:\/\/bucket\/s\.json: s3:\/\/ .*not supported/);
  });
});
