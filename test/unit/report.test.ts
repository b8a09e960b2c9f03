import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, type ExportArgs } from '../../src/config.js';
import { ExitError } from '../../src/errors.js';
import type { ExportResult } from '../../src/export.js';
import { exportDefaults } from '../../src/flags.js';
import { writeFileAtomic } from '../../src/report/atomic.js';
import { prometheusText } from '../../src/report/metrics.js';
import { runSummary } from '../../src/summary.js';
import { achievedRate } from '../../src/pipeline/counters.js';

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
  it('every sample line is `name{labels} value` with HELP and TYPE, and matches the summary', () => {
    const s = runSummary(facts, cfg());
    const m = parseMetrics(prometheusText(s));
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
    const text = prometheusText(s);
    expect(text).toContain('# TYPE amp_profile_export_requests_total counter');
    expect(text).toContain('# TYPE amp_profile_export_exit_code gauge');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('escapes label values', () => {
    const s = { ...runSummary(facts, cfg()), version: '1.0.0-"x"\\y' };
    expect(prometheusText(s)).toContain('version="1.0.0-\\"x\\"\\\\y"');
  });
});

describe('writeFileAtomic', () => {
  it('creates the directory, replaces the file and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ape-atomic-'));
    const path = join(dir, 'sub', 'metrics.prom');
    await writeFileAtomic(path, 'a 1\n');
    await writeFileAtomic(path, 'a 2\n');
    expect(readFileSync(path, 'utf8')).toBe('a 2\n');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['metrics.prom']);
  });

  it('a failed write leaves the old file and no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ape-atomic-'));
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

