import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { fixture, ROOT, runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator } from '../support/emulator.js';

/** `export --config` through the built CLI, as cron or a person runs it. */
let emu: RunningEmulator;
beforeAll(async () => {
  emu = await fixtureEmulator();
});
afterAll(async () => emu.close());

const stderrLines = (s: string) => s.trim().split('\n').filter((l) => l !== '');

describe('export --config', () => {
  it('a job file gives the same bytes as the same flags on the command line (export.test.ts golden files)', async () => {
    const dir = tempDir('ape-job-');
    const job = join(dir, 'golden.yaml');
    writeFileSync(
      job,
      [
        `input: ${fixture('users.csv')}`,
        `output: ${join(dir, 'users.csv')}`,
        `api-url: ${emu.url}`,
        'rec-id: [homepage, email-weekly]',
        'predictionId: [p-churn, p-buy]',
        'cohort-ids: true',
        'max-items: 5',
        'rate-limit: 0',
        '',
      ].join('\n'),
    );
    const r = await runCli(['export', '--config', job]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'users.csv'), 'utf8')).toBe(readFileSync(fixture('expected/users.csv'), 'utf8'));
  });

  it('jobs/backfill.yaml: a dry run from the directory holding backfill/ (paths relative to it)', async () => {
    const cwd = tempDir('ape-backfill-');
    mkdirSync(join(cwd, 'backfill'));
    copyFileSync(fixture('users.csv'), join(cwd, 'backfill/users.csv'));
    const r = await runCli(['export', '--config', join(ROOT, 'jobs/backfill.yaml'), '--dry-run'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`input            ${join(cwd, 'backfill/users.csv')}`);
    expect(r.stdout).toContain(`output           ${join(cwd, 'backfill/out/recs-backfill.csv')} (csv)`);
    expect(r.stdout).toMatch(/rate limit\s+100 per 60 s/);
    expect(readdirSync(join(cwd, 'backfill'))).toEqual(['users.csv']);
  });

  // S3 job files: the command line replaces their s3:// locations with local files, so the
  // real CLI checks everything else in them with no S3 (test/unit/jobfile.test.ts checks the
  // S3 locations through the config layer).
  it.each(['nightly-braze.yaml', 'weekly-propensity.yaml'])('jobs/%s: a dry run with its S3 locations overridden on the command line', async (file) => {
    const dir = tempDir('ape-job-');
    const out = join(dir, file.endsWith('propensity.yaml') ? 'out.jsonl' : 'out.csv');
    const local = ['--input', fixture('users.csv'), '--output', out, '--checkpoint', `${out}.checkpoint.json`, '--errors', `${out}.errors.csv`];
    const r = await runCli(['export', '--config', `jobs/${file}`, ...local, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`output           ${out}`);
    expect(r.stdout).toMatch(/rate limit\s+500 per 60 s/);
  });

  it('precedence: command line > env AMP_EXPORT_* > job file', async () => {
    const dir = tempDir('ape-job-');
    const args = ['export', '--config', 'jobs/backfill.yaml', '--input', fixture('users.csv'), '--output', join(dir, 'o.csv'), '--dry-run'];
    const env = { AMP_EXPORT_RATE_LIMIT: '300' };
    expect((await runCli(args, { env })).stdout).toMatch(/rate limit\s+300 per 60 s/);
    expect((await runCli([...args, '--rate-limit', '200'], { env })).stdout).toMatch(/rate limit\s+200 per 60 s/);
  });

  it('an unknown key: exit 2, one line naming it, with a suggestion', async () => {
    const cwd = tempDir('ape-job-');
    mkdirSync(join(cwd, 'jobs'));
    writeFileSync(join(cwd, 'jobs/x.yaml'), 'input: users.csv\noutput: out.csv\nrec_idd: homepage\n');
    const r = await runCli(['export', '--config', 'jobs/x.yaml'], { cwd });
    expect(r.code).toBe(2);
    expect(stderrLines(r.stderr)).toEqual(['amp-profile-export: jobs/x.yaml: unknown key "rec_idd" (did you mean "rec-id"?) (see --help)']);
  });

  it('a secret key in a job file: exit 2, pointing at AMPLITUDE_SECRET_KEY, the key never printed', async () => {
    const dir = tempDir('ape-job-');
    const key = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    writeFileSync(join(dir, 'leaky.yaml'), `input: users.csv\noutput: out.csv\nsecret-key: ${key}\n`);
    const r = await runCli(['export', '--config', join(dir, 'leaky.yaml'), '--log-level', 'trace']);
    expect(r.code).toBe(2);
    expect(stderrLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/"secret-key" must not be in a job file .*AMPLITUDE_SECRET_KEY/);
    expect(r.stderr + r.stdout).not.toContain(key);
  });

  it('a missing job file: exit 2, one line', async () => {
    const r = await runCli(['export', '--config', 'jobs/nonexistent.yaml']);
    expect(r.code).toBe(2);
    expect(stderrLines(r.stderr)).toEqual(['amp-profile-export: cannot read job file jobs/nonexistent.yaml: ENOENT (see --help)']);
  });
});
