import { readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { ExitError } from '../../src/errors.js';
import { exportFlags } from '../../src/flags.js';
import { loadJobFile, parseJobFile, suggest } from '../../src/jobfile.js';
import { ROOT, tempDir } from '../support/cli.js';
import { parseExportArgs } from '../support/export-args.js';

const NOW = new Date('2024-03-05T01:00:00Z');

/** The one-line usage error (exit 2) that parsing `text` gives. */
function refusal(text: string, name = 'jobs/x.yaml'): string {
  let thrown: unknown;
  try {
    parseJobFile(text, name);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ExitError);
  const e = thrown as ExitError;
  expect(e.exitCode).toBe(2);
  expect(e.message).not.toContain('\n');
  return e.message;
}

describe('parseJobFile', () => {
  it('takes keys as on the command line or in camelCase, with the value a flag would give', () => {
    const text = 'input: users.csv\nrecId: homepage\nrate-limit: 500\ns3PathStyle: true\nshard: 1/3\nmax-items: 5\n';
    expect(parseJobFile(text, 'j.yaml')).toEqual({ input: 'users.csv', 'rec-id': 'homepage', 'rate-limit': 500, 's3-path-style': true, shard: '1/3', 'max-items': 5 });
  });

  it('every export flag can be given', () => {
    const sample = { string: 'x', number: 1, boolean: true } as const;
    const text = Object.entries(exportFlags).map(([k, o]) => `${k}: ${sample[o.type]}`).join('\n');
    expect(Object.keys(parseJobFile(text, 'all.yaml'))).toEqual(Object.keys(exportFlags));
  });

  it('joins YAML and JSON lists of ids with commas; a number-like id keeps its spelling', () => {
    expect(parseJobFile('rec-id: [homepage, email-weekly]\nprediction-id:\n  - p-churn\n  - p-buy\n', 'j.yaml')).toEqual({
      'rec-id': 'homepage,email-weekly',
      'prediction-id': 'p-churn,p-buy',
    });
    expect(parseJobFile('{"rec-id": ["a", "b"], "compId": "c,d", "rate-limit": 0}', 'j.json')).toEqual({ 'rec-id': 'a,b', 'comp-id': 'c,d', 'rate-limit': 0 });
    expect(parseJobFile('comp-id: [c1, c2]\n', 'j.yaml')).toEqual({ 'comp-id': 'c1,c2' });
    expect(parseJobFile('rec-id: [00123, 7e3]\nlimiter-id: 0042\n', 'j.yaml')).toEqual({ 'rec-id': '00123,7e3', 'limiter-id': '0042' });
  });

  it('refuses an unknown key by name and suggests the flag it resembles', () => {
    expect(refusal('rec_idd: homepage\n')).toBe('jobs/x.yaml: unknown key "rec_idd" (did you mean "rec-id"?)');
    expect(refusal('ratelimit: 5\n')).toBe('jobs/x.yaml: unknown key "ratelimit" (did you mean "rate-limit"?)');
    expect(refusal('predictionIds: a\n')).toMatch(/unknown key "predictionIds" \(did you mean "prediction-id"\?\)/);
    expect(refusal('schedule: daily\n')).toBe('jobs/x.yaml: unknown key "schedule"');
    expect(suggest('outptu')).toBe('output');
  });

  it('refuses a value of the wrong type, naming the key, and reports every problem at once', () => {
    expect(refusal('output: [a.csv, b.csv]\n')).toBe('jobs/x.yaml: "output" expects a string, got a list');
    expect(refusal('rate-limit: 500/min\n')).toBe('jobs/x.yaml: "rate-limit" expects a number, got the string "500/min"');
    expect(refusal('rate-limit: "500"\n')).toMatch(/"rate-limit" expects a number, got the string "500"/);
    expect(refusal('fresh: yes\n')).toMatch(/"fresh" expects true or false, got the string "yes"/);
    expect(refusal('input:\n  path: users.csv\n')).toMatch(/"input" expects a string, got a mapping/);
    expect(refusal('max-items:\n')).toMatch(/"max-items" expects a number, got no value/);
    expect(refusal('rec-id: [a, [b]]\n')).toMatch(/"rec-id" expects a list of plain values/);
    expect(refusal('rec-id: [a, "b,c"]\n')).toMatch(/"rec-id" expects a list of plain values/);
    const all = refusal('rec_idd: x\nrate-limit: fast\noutput: [a]\n');
    expect(all).toMatch(/unknown key "rec_idd".*; "rate-limit" expects a number.*; "output" expects a string/);
  });

  it('refuses the same flag given twice (kebab-case and camelCase) and duplicate keys', () => {
    expect(refusal('rec-id: a\nrecId: b\n')).toMatch(/"recId" is given twice \(also as "rec-id"\)/);
    expect(refusal('rec-id: a\nrec-id: b\n')).toMatch(/^jobs\/x.yaml: not valid YAML or JSON at line 2, column 1: Map keys must be unique/);
  });

  it('refuses the secret key in any spelling, pointing at AMPLITUDE_SECRET_KEY, and never repeats it', () => {
    const key = '0123456789abcdef0123456789abcdef';
    for (const name of ['secret', 'secret-key', 'secretKey', 'SECRET_KEY', 'api-key', 'apiKey', 'api_key', 'amplitude-secret-key']) {
      const msg = refusal(`${name}: ${key}\n`);
      expect(msg).toContain(`"${name}" must not be in a job file`);
      expect(msg).toMatch(/AMPLITUDE_SECRET_KEY or a file named by secret-key-file/);
      expect(msg).not.toContain(key);
    }
    expect(parseJobFile('secret-key-file: /run/secrets/amplitude\n', 'j.yaml')).toEqual({ 'secret-key-file': '/run/secrets/amplitude' });
    // A key pasted under a wrong flag is not quoted back either.
    expect(refusal(`rate-limit: ${key}\n`)).not.toContain(key);
  });

  it('reports broken YAML or JSON by line and column without quoting the file', () => {
    const msg = refusal('input: users.csv\nsecret-key: [hunter2hunter2\n', 'jobs/broken.yaml');
    expect(msg).toMatch(/^jobs\/broken.yaml: not valid YAML or JSON at line \d+, column \d+: /);
    expect(msg).not.toContain('hunter2');
    expect(refusal('{"input": "a",, }', 'j.json')).toMatch(/^j.json: not valid YAML or JSON at line 1, column \d+/);
    expect(refusal('')).toBe('jobs/x.yaml: the job file is empty (expected flag: value lines)');
    expect(refusal('# only a comment\n')).toMatch(/the job file is empty/);
    expect(refusal('- input\n')).toBe('jobs/x.yaml: expected a mapping of flag: value, got a list');
  });

  it('a missing file is one line naming it', () => {
    expect(() => loadJobFile('/nonexistent/nightly.yaml')).toThrow('cannot read job file /nonexistent/nightly.yaml: ENOENT');
  });
});

describe('--config through the export parser: command line > env AMP_EXPORT_* > job file > defaults', () => {
  const dir = tempDir('ape-jobfile-');
  const job = join(dir, 'job.yaml');
  writeFileSync(job, 'input: users.csv\noutput: out/recs.csv\nrate-limit: 500\nrec-id: [homepage, email-weekly]\nprogress: false\nconcurrency: 8\n');

  it('the job file fills what the command line and env leave out; defaults fill the rest', async () => {
    const a = await parseExportArgs(['--config', job]);
    expect(a).toMatchObject({ input: 'users.csv', output: 'out/recs.csv', rateLimit: 500, recId: 'homepage,email-weekly', progress: false, concurrency: 8, rateInterval: 60 });
  });

  it('env beats the job file, the command line beats both', async () => {
    const env = { AMP_EXPORT_RATE_LIMIT: '300', AMP_EXPORT_CONCURRENCY: '2' };
    expect(await parseExportArgs(['--config', job], env)).toMatchObject({ rateLimit: 300, concurrency: 2 });
    expect(await parseExportArgs(['--config', job, '--rate-limit', '200', '--progress'], env)).toMatchObject({ rateLimit: 200, concurrency: 2, progress: true });
    expect(await parseExportArgs(['--config', job, '--rec-id', 'other'])).toMatchObject({ recId: 'other' });
  });

  it('AMP_EXPORT_CONFIG names the job file too; --config given twice: the last wins', async () => {
    expect(await parseExportArgs([], { AMP_EXPORT_CONFIG: job })).toMatchObject({ rateLimit: 500 });
    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'rate-limit: 50\n');
    const a = await parseExportArgs(['--config', job, '--config', other]);
    expect(a.rateLimit).toBe(50);
    expect(a.input).toBeUndefined();
  });

  it('relative paths in a job file are relative to the working directory, like on the command line', async () => {
    const cfg = buildConfig(await parseExportArgs(['--config', job]), NOW, {});
    expect(cfg.input).toEqual({ kind: 'file', path: resolve('users.csv') });
    expect(cfg.output).toEqual({ kind: 'file', path: resolve('out/recs.csv') });
  });

  it('a refused job file fails the parse with its one line', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'rec_idd: x\n');
    await expect(parseExportArgs(['--config', bad])).rejects.toThrow(/bad.yaml: unknown key "rec_idd" \(did you mean "rec-id"\?\)/);
  });
});

describe('the example job files in jobs/', () => {
  const files = readdirSync(join(ROOT, 'jobs')).filter((f) => /\.(ya?ml|json)$/.test(f));

  it('are there: nightly Braze, weekly propensity, backfill', () => {
    expect(files.sort()).toEqual(['backfill.yaml', 'nightly-braze.yaml', 'weekly-propensity.yaml']);
  });

  it.each(files)('%s loads, parses as the CLI parses it and passes buildConfig', async (file) => {
    const path = join(ROOT, 'jobs', file);
    expect(Object.keys(loadJobFile(path)).length).toBeGreaterThan(3);
    const cfg = buildConfig(await parseExportArgs(['--config', path]), NOW, {});
    // Anything on S3 keeps its checkpoint on S3 too: a rerun on another machine resumes.
    if (cfg.output.kind === 's3') expect(cfg.checkpointPath).toMatch(/^s3:\/\//);
    expect(cfg.rateLimit).toBeLessThanOrEqual(600);
  });

  it('the nightly leaves 100 of the 600 a minute to others and writes dated files on S3', async () => {
    const cfg = buildConfig(await parseExportArgs(['--config', join(ROOT, 'jobs/nightly-braze.yaml')]), NOW, {});
    expect(cfg.rateLimit).toBe(500);
    expect(cfg.output).toMatchObject({ kind: 's3', url: 's3://acme-exports/braze/recs-2024-03-05.csv' });
    expect(cfg.checkpointPath).toBe('s3://acme-exports/state/braze/recs-2024-03-05.checkpoint.json');
    expect(cfg.query.recIds).toEqual(['homepage', 'email-weekly']);
  });

  it('the weekly propensity export asks for percentiles and writes JSONL', async () => {
    const cfg = buildConfig(await parseExportArgs(['--config', join(ROOT, 'jobs/weekly-propensity.yaml')]), NOW, {});
    expect(cfg.format).toBe('jsonl');
    expect(cfg.query).toMatchObject({ predictionIds: ['p-churn', 'p-buy'], propensityType: 'pct', cohortIds: true });
  });
});
