import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, type ExportArgs } from '../../src/config.js';
import { ExitError } from '../../src/errors.js';
import type { ExportResult } from '../../src/export.js';
import { exportDefaults } from '../../src/flags.js';
import { writeFileAtomic } from '../../src/report/atomic.js';
import { prometheusText } from '../../src/report/metrics.js';
import { redactUrl, scrubUrlCredentials } from '../../src/redact.js';
import { scrubber } from '../../src/secret.js';
import { runSummary } from '../../src/summary.js';
import { achievedRate } from '../../src/pipeline/counters.js';
import { tempDir } from '../support/cli.js';

const cfg = (over: Partial<ExportArgs> = {}) =>
  buildConfig({ ...exportDefaults(), input: '/data/users.csv', output: '/data/out/{date}.csv', ...over } as ExportArgs, new Date('2024-03-05T23:30:00Z'), {});

const result: ExportResult = {
  exitCode: 4,
  ended: 'complete',
  counts: { users: 10, ok: 5, no_recs: 2, unknown_user: 1, failed: 2, skipped: 1, rows: 8 },
  // 14 starts over 6.5 s: 13 gaps, 2 per second.
  requests: { requests: 14, retries: 4, throttled: 2, slowdowns: 1, firstAt: 1000, lastAt: 7500 },
  durationMs: 7000,
  outputBytes: 1234,
  errorsBytes: 99,
};
const facts = {
  result,
  exitCode: 4,
  startedAt: new Date('2024-03-06T02:00:00Z'),
  finishedAt: new Date('2024-03-06T02:00:07Z'),
  checkpointBytes: 500,
};

/** `name{labels} value` lines of a Prometheus text exposition, keyed by name and labels. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('#')) {
      expect(line).toMatch(/^# (HELP|TYPE) amp_profile_export_[a-z_]+ .+/);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|NaN)$/.exec(line);
    expect(m, line).not.toBeNull();
    out.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  return out;
}

describe('runSummary', () => {
  it('holds counts, requests, duration, rate, timestamps, exit code, files and the version', () => {
    const s = runSummary(facts, cfg({ rateLimit: 600, summary: '/data/summary-{date}.json' }));
    expect(s).toMatchObject({
      tool: 'amp-profile-export',
      ended: 'complete',
      exitCode: 4,
      error: null,
      startedAt: '2024-03-06T02:00:00.000Z',
      finishedAt: '2024-03-06T02:00:07.000Z',
      users: 10,
      ok: 5,
      failed: 2,
      skipped: 1,
      requests: 14,
      retries: 4,
      throttled: 2,
      slowdowns: 1,
      durationSeconds: 7,
      requestsPerSecond: 2,
      rateLimitPerSecond: 10,
      output: '/data/out/2024-03-05.csv',
      outputBytes: 1234,
      errorsFile: '/data/out/2024-03-05.csv.errors.csv',
      errorsBytes: 99,
      checkpoint: '/data/out/2024-03-05.csv.checkpoint.json',
      checkpointBytes: 500,
    });
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a run that stopped on an error before exporting: zero counts, the error, its exit code', () => {
    const s = runSummary({ ...facts, result: undefined, error: new ExitError('input', '--input /x: no such file'), exitCode: 2, checkpointBytes: null }, cfg());
    expect(s).toMatchObject({ ended: 'fatal', exitCode: 2, error: '--input /x: no such file', users: 0, requests: 0, durationSeconds: 7, errorsFile: null, errorsBytes: 0 });
    expect(s).toMatchObject({ checkpoint: '/data/out/2024-03-05.csv.checkpoint.json', checkpointBytes: null });
  });
});

describe('prometheusText', () => {
  it('every sample line is `name{labels} value` with HELP and TYPE, and matches the summary', async () => {
    const s = runSummary(facts, cfg());
    const text = await prometheusText(s);
    const m = parseMetrics(text);
    expect(m.get('amp_profile_export_users_total{status="ok"}')).toBe(5);
    expect(m.get('amp_profile_export_users_total{status="no_recs"}')).toBe(2);
    expect(m.get('amp_profile_export_users_total{status="unknown_user"}')).toBe(1);
    expect(m.get('amp_profile_export_users_total{status="failed"}')).toBe(2);
    expect(m.get('amp_profile_export_users_total{status="skipped"}')).toBe(1);
    expect(m.get('amp_profile_export_requests_total')).toBe(14);
    expect(m.get('amp_profile_export_throttled_total')).toBe(2);
    expect(m.get('amp_profile_export_duration_seconds')).toBe(7);
    expect(m.get('amp_profile_export_last_run_timestamp_seconds')).toBe(Date.parse('2024-03-06T02:00:07Z') / 1000);
    expect(m.get('amp_profile_export_exit_code')).toBe(4);
    expect(m.get(`amp_profile_export_last_run_info{version="${s.version}",ended="complete"}`)).toBe(1);
    expect(text).toContain('# TYPE amp_profile_export_requests_total counter');
    expect(text).toContain('# TYPE amp_profile_export_exit_code gauge');
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toMatch(/\n\n/); // one series a line, no blank lines: what a line-by-line script expects
  });

  it('has the same series as before prom-client wrote it, and no Node process metrics', async () => {
    const m = parseMetrics(await prometheusText(runSummary(facts, cfg({ rateLimit: 600 }))));
    expect([...m.keys()].map((k) => k.replace(/\{version="[^"]*"/, '{version="V"'))).toEqual([
      ...['ok', 'no_recs', 'unknown_user', 'failed', 'skipped'].map((st) => `amp_profile_export_users_total{status="${st}"}`),
      'amp_profile_export_rows_total',
      'amp_profile_export_requests_total',
      'amp_profile_export_retries_total',
      'amp_profile_export_throttled_total',
      'amp_profile_export_slowdowns_total',
      'amp_profile_export_duration_seconds',
      'amp_profile_export_requests_per_second',
      'amp_profile_export_rate_limit_per_second',
      'amp_profile_export_output_bytes',
      'amp_profile_export_errors_bytes',
      'amp_profile_export_last_run_start_timestamp_seconds',
      'amp_profile_export_last_run_timestamp_seconds',
      'amp_profile_export_exit_code',
      'amp_profile_export_last_run_info{version="V",ended="complete"}',
    ]);
    expect([...m.values()]).toEqual([5, 2, 1, 2, 1, 8, 14, 4, 2, 1, 7, 2, 10, 1234, 99, Date.parse('2024-03-06T02:00:00Z') / 1000, Date.parse('2024-03-06T02:00:07Z') / 1000, 4, 1]);
  });

  it('leaves out the rate limit when there is none', async () => {
    expect(await prometheusText(runSummary(facts, cfg({ rateLimit: 0 })))).not.toContain('rate_limit_per_second');
  });

  it('two runs in one process do not add up: each has its own registry', async () => {
    const s = runSummary(facts, cfg());
    expect(await prometheusText(s)).toBe(await prometheusText(s));
  });

  it('escapes label values', async () => {
    const s = { ...runSummary(facts, cfg()), version: '1.0.0-"x"\\y' };
    expect(await prometheusText(s)).toContain('version="1.0.0-\\"x\\"\\\\y"');
  });

  it('scrubs the secret key from the text that is written and pushed', async () => {
    const s = { ...runSummary(facts, cfg()), version: '1.0.0-sk-live-abcdef' };
    const text = await prometheusText(s, scrubber('sk-live-abcdef'));
    expect(text).not.toContain('sk-live-abcdef');
    expect(text).toContain('version="1.0.0-[REDACTED]"');
  });
});

describe('--metrics-push and --metrics-job', () => {
  it('none by default; the job defaults to the --limiter-id', () => {
    expect(cfg().metricsPush).toBeNull();
    const c = cfg({ metricsPush: 'http://pushgateway.monitoring:9091', limiterId: 'braze-nightly' });
    expect(c.metricsPush).toEqual({ url: new URL('http://pushgateway.monitoring:9091'), job: 'braze-nightly' });
    expect(cfg({ metricsPush: 'https://gw.example/prefix', metricsJob: 'amp' }).metricsPush).toMatchObject({ job: 'amp' });
  });

  it('refuses a URL that is not http(s) without showing its credentials, an empty job and a job with a slash', () => {
    expect(() => cfg({ metricsPush: 'pushgateway:9091' })).toThrow(/--metrics-push expects a Pushgateway's http\(s\) URL \(http:\/\/pushgateway:9091\), got pushgateway:9091/);
    expect(() => cfg({ metricsPush: 'ftp://ops:hunter2@gw' })).toThrow(/got ftp:\/\/\*\*\*@gw$/);
    expect(() => cfg({ metricsPush: 'http://gw:9091/?x=1' })).toThrow(/--metrics-push expects/);
    expect(() => cfg({ metricsPush: 'http://gw:9091', metricsJob: '' })).toThrow(/--metrics-job must not be empty/);
    expect(() => cfg({ metricsPush: 'http://gw:9091', metricsJob: 'a/b' })).toThrow(/--metrics-job a\/b: a Pushgateway job name cannot hold a slash$/);
    expect(() => cfg({ metricsPush: 'http://gw:9091', limiterId: 'team/a' })).toThrow(/--metrics-job team\/a: .* \(it defaults to the --limiter-id\)/);
    // Without --metrics-push the job name is not used: a limiter id with a slash stays fine.
    expect(cfg({ limiterId: 'team/a' }).metricsPush).toBeNull();
  });

  it('redacts credentials in URLs, and scrubs them (raw and decoded) from messages', () => {
    expect(redactUrl('https://user:pass@gw.example:9091/p')).toBe('https://***@gw.example:9091/p');
    expect(redactUrl('https://token@gw.example/')).toBe('https://***@gw.example/');
    expect(redactUrl('http://gw.example:9091/a@b')).toBe('http://gw.example:9091/a@b');
    expect(redactUrl('not a url user:pass@x')).toBe('not a url user:pass@x');
    const url = new URL('https://opsuser:p%40ss@gw.example');
    expect(scrubUrlCredentials(url, 'auth p@ss and p%40ss for opsuser failed')).toBe('auth *** and *** for *** failed');
    expect(scrubUrlCredentials(new URL('https://ops:pw@gw'), 'stops: pw')).toBe('stops: pw');
  });
});

describe('writeFileAtomic', () => {
  it('creates the directory, replaces the file and leaves no temporary file', async () => {
    const dir = tempDir('ape-atomic-');
    const path = join(dir, 'sub', 'metrics.prom');
    await writeFileAtomic(path, 'a 1\n');
    await writeFileAtomic(path, 'a 2\n');
    expect(readFileSync(path, 'utf8')).toBe('a 2\n');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['metrics.prom']);
  });

  it('a failed write leaves the old file and no temporary file', async () => {
    const dir = tempDir('ape-atomic-');
    await expect(writeFileAtomic(dir, 'x')).rejects.toThrow(); // a directory cannot be replaced by a file
    expect(existsSync(dir)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('config: progress, dry run, summary and metrics flags', () => {
  it('defaults: progress on every 30 s, no dry run, no summary or metrics file', () => {
    expect(cfg()).toMatchObject({ progress: true, progressIntervalMs: 30_000, dryRun: false, summaryPath: null, metricsPath: null });
  });

  it('fills {date} in --summary and --metrics-file and makes them absolute', () => {
    const c = cfg({ summary: 'runs/{date}.json', metricsFile: '/var/lib/node_exporter/amp.prom' });
    expect(c.summaryPath).toMatch(/\/runs\/2024-03-05\.json$/);
    expect(c.metricsPath).toBe('/var/lib/node_exporter/amp.prom');
  });

  it('refuses a --progress-interval that is not above 0, and s3:// report paths, in one line', () => {
    expect(() => cfg({ progressInterval: 0 })).toThrow(/--progress-interval expects a number above 0, got 0/);
    expect(() => cfg({ summary: 's3://b/k.json' })).toThrow(/--summary s3:\/\/b\/k\.json: s3:\/\/ locations are not supported/);
  });
});

describe('the achieved rate', () => {
  it('counts gaps between request starts: 30 starts 100 ms apart are 10/s, not 30 / 2.9 s', () => {
    expect(achievedRate({ requests: 30, retries: 0, throttled: 0, slowdowns: 0, firstAt: 0, lastAt: 2900 })).toBeCloseTo(10, 6);
    expect(achievedRate({ requests: 1, retries: 0, throttled: 0, slowdowns: 0, firstAt: 5, lastAt: 5 })).toBe(0);
    expect(achievedRate({ requests: 0, retries: 0, throttled: 0, slowdowns: 0 })).toBe(0);
  });
});

