/**
 * --metrics-push against a real prometheus-pushgateway on loopback: what a run pushes is read
 * back from the Pushgateway's own /metrics with its job and shard labels; a Pushgateway that is
 * down or hangs is a warning, never a failed export; a failed run pushes too.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig, type ExportArgs } from '../../src/config.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { exportDefaults } from '../../src/flags.js';
import { runRegistry } from '../../src/report/metrics.js';
import { pushMetrics } from '../../src/report/push.js';
import { scrubber } from '../../src/secret.js';
import { runSummary } from '../../src/summary.js';
import { logLines, runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';
import { pushgatewaySkipReason, samples, startPushgateway, type RunningPushgateway } from '../support/pushgateway.js';
import { freePort } from '../support/redis.js';

const skip = pushgatewaySkipReason();
const P = 'amp_profile_export_';
const SECRET = 'demo-secret-key'; // the emulator's key, which runCli hands the CLI

const summaryOf = (exitCode: number, over: Partial<ExportArgs> = {}) =>
  runSummary(
    {
      result: {
        exitCode,
        ended: 'complete',
        counts: { users: 10, ok: 5, no_recs: 2, unknown_user: 1, failed: 2, skipped: 1, rows: 8 },
        requests: { requests: 14, retries: 4, throttled: 2, slowdowns: 1, firstAt: 1000, lastAt: 7500 },
        durationMs: 7000,
        outputBytes: 1234,
        errorsBytes: 99,
      },
      exitCode,
      startedAt: new Date('2024-03-06T02:00:00Z'),
      finishedAt: new Date('2024-03-06T02:00:07Z'),
      checkpointBytes: 500,
    },
    buildConfig({ ...exportDefaults(), input: '/data/users.csv', output: '/data/out.csv', ...over } as ExportArgs, new Date('2024-03-06T02:00:00Z'), {}),
  );

describe.skipIf(skip !== undefined)('--metrics-push with a real Pushgateway', () => {
  let pg: RunningPushgateway;
  let emu: RunningEmulator;
  let dir: string;
  let input: string;
  beforeAll(async () => {
    [pg, emu] = await Promise.all([startPushgateway(), fixtureEmulator({ synthetic: true })]);
    dir = tempDir('ape-push-');
    input = join(dir, 'users.csv');
    writeFileSync(input, syntheticUsers(30));
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), emu?.close()]);
  });

  const exportArgs = (name: string, extra: string[], from = input) => ['export', '--input', from, '--output', join(dir, `${name}.csv`), '--api-url', emu.url, '--rec-id', 'homepage', '--rate-limit', '0', ...extra];

  describe('pushMetrics', () => {
    it('the series are readable back with the job and shard labels; a second push replaces its group only', async () => {
      const target = (shard: string) => ({ url: new URL(pg.url), job: 'unit-replace', grouping: { shard }, timeoutMs: 5000 });
      await pushMetrics(runRegistry(summaryOf(4, { rateLimit: 600 })), target('0'));
      await pushMetrics(runRegistry(summaryOf(4, { rateLimit: 600 })), target('1'));
      let m = samples(await pg.scrape(), P);
      expect(m.get(`${P}users_total{instance="",job="unit-replace",shard="0",status="failed"}`)).toBe(2);
      expect(m.get(`${P}requests_total{instance="",job="unit-replace",shard="0"}`)).toBe(14);
      expect(m.get(`${P}exit_code{instance="",job="unit-replace",shard="1"}`)).toBe(4);
      expect(m.get(`${P}rate_limit_per_second{instance="",job="unit-replace",shard="0"}`)).toBe(10);

      // Shard 0 again, with no rate limit and exit 0: its old rate limit is gone, shard 1 untouched.
      await pushMetrics(runRegistry(summaryOf(0, { rateLimit: 0 })), target('0'));
      m = samples(await pg.scrape(), P);
      expect(m.has(`${P}rate_limit_per_second{instance="",job="unit-replace",shard="0"}`)).toBe(false);
      expect(m.get(`${P}exit_code{instance="",job="unit-replace",shard="0"}`)).toBe(0);
      expect(m.get(`${P}rate_limit_per_second{instance="",job="unit-replace",shard="1"}`)).toBe(10);
      expect(m.get(`${P}exit_code{instance="",job="unit-replace",shard="1"}`)).toBe(4);
    });

    it('the secret key is scrubbed from what is pushed', async () => {
      const s = { ...summaryOf(0), version: `1.0.0-${SECRET}` };
      await pushMetrics(runRegistry(s, scrubber(SECRET)), { url: new URL(pg.url), job: 'unit-secret', grouping: { shard: '0' }, timeoutMs: 5000 });
      const text = await pg.scrape();
      expect(samples(text, `${P}last_run_info`).get(`${P}last_run_info{ended="complete",instance="",job="unit-secret",shard="0",version="1.0.0-[REDACTED]"}`)).toBe(1);
      expect(text).not.toContain(SECRET);
    });

    it('a Pushgateway that accepts the connection but never answers (SIGSTOPped) fails within the timeout', async () => {
      const hung = await startPushgateway();
      try {
        hung.child.kill('SIGSTOP');
        const url = new URL(hung.url.replace('//', '//ops:hunter2-pw@'));
        await expect(pushMetrics(runRegistry(summaryOf(0)), { url, job: 'unit-hung', grouping: { shard: '0' }, timeoutMs: 300 })).rejects.toThrow(
          `http://***@127.0.0.1:${url.port}/: no answer within 0.3 s`,
        );
      } finally {
        hung.child.kill('SIGCONT');
        await hung.stop();
      }
    });
  });

  it('a Pushgateway behind basic auth: the URL\'s user:password is sent; a wrong one is a warning that does not show it', async () => {
    // bcrypt (cost 4) of `gw-test-pass`, for the Pushgateway's --web.config.file.
    const bcrypt = '$2b$04$D/Y/oXXQFyGws0mLR5r8pu95nYjXjOnKzTyfsHl0gSPRCHNGBxgTa';
    const authed = await startPushgateway({ basicAuth: { user: 'exporter', password: 'gw-test-pass', bcrypt } });
    try {
      const withCreds = (pw: string) => authed.url.replace('//', `//exporter:${pw}@`);
      const ok = await runCli(exportArgs('authed', ['--metrics-push', withCreds('gw-test-pass'), '--metrics-job', 'authed']));
      expect(ok.code, ok.stderr).toBe(0);
      expect(samples(await authed.scrape(), P).get(`${P}exit_code{instance="",job="authed",shard="0"}`)).toBe(0);
      expect(ok.stderr).not.toContain('gw-test-pass');

      const refused = await runCli(exportArgs('refused', ['--metrics-push', withCreds('wrong-password-x'), '--metrics-job', 'refused']));
      expect(refused.code, refused.stderr).toBe(0);
      expect(logLines(refused.stderr).filter((l) => l.level === 40).map((l) => l.msg)).toEqual([expect.stringMatching(/Pushgateway http:\/\/\*\*\*@127\.0\.0\.1:\d+\/: push failed with status 401/)]);
      expect(refused.stderr).not.toContain('wrong-password-x');
      expect(await authed.scrape()).not.toContain('job="refused"');
    } finally {
      await authed.stop();
    }
  });

  describe('the CLI', () => {
    it('pushes the same metrics as --metrics-file, grouped by --metrics-job and shard; the key in no pushed byte', async () => {
      const summaryPath = join(dir, 'ok.json');
      const r = await runCli(exportArgs('ok', ['--shard', '1/3', '--metrics-push', pg.url, '--metrics-job', 'nightly-braze', '--summary', summaryPath, '--metrics-file', join(dir, 'ok.prom')]));
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, number>;
      const text = await pg.scrape();
      const pushed = samples(text, P);
      const labels = 'instance="",job="nightly-braze",shard="1"';
      for (const st of ['ok', 'no_recs', 'unknown_user', 'failed', 'skipped']) expect(pushed.get(`${P}users_total{${labels},status="${st}"}`), st).toBe(s[st]);
      expect(s.ok).toBeGreaterThan(0);
      expect(pushed.get(`${P}requests_total{${labels}}`)).toBe(s.requests);
      expect(pushed.get(`${P}exit_code{${labels}}`)).toBe(0);
      expect(pushed.get(`${P}last_run_timestamp_seconds{${labels}}`)).toBe(Date.parse(s.finishedAt as unknown as string) / 1000);
      // Every series of the file, and nothing else, in the pushed group.
      const file = samples(readFileSync(join(dir, 'ok.prom'), 'utf8'), P);
      const inGroup = [...pushed.keys()].filter((k) => k.includes(labels));
      expect(inGroup.map((k) => k.replace(`${labels},`, '').replace(`{${labels}}`, '{}')).sort()).toEqual([...file.keys()].sort());
      expect(text).not.toContain(SECRET);
      expect(logLines(r.stderr).some((l) => l.level === 30 && l.msg === `metrics pushed to ${pg.url}/ (job nightly-braze, shard 1)`)).toBe(true);
      expect(logLines(r.stderr).at(-1)).toMatchObject({ msg: 'export finished' });
    });

    it('the job defaults to the --limiter-id, shard 0 when unsharded', async () => {
      const r = await runCli(exportArgs('default-job', ['--limiter-id', 'team-a-exports', '--metrics-push', pg.url]));
      expect(r.code, r.stderr).toBe(0);
      expect(samples(await pg.scrape(), P).get(`${P}exit_code{instance="",job="team-a-exports",shard="0"}`)).toBe(0);
    });

    it('a run that stops on bad input still pushes, with its exit code', async () => {
      const r = await runCli(exportArgs('failed', ['--metrics-push', pg.url, '--metrics-job', 'failing-run'], join(dir, 'missing.csv')));
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/missing\.csv: no such file/)]);
      const m = samples(await pg.scrape(), P);
      expect(m.get(`${P}exit_code{instance="",job="failing-run",shard="0"}`)).toBe(2);
      expect(m.get(`${P}last_run_info{ended="fatal",instance="",job="failing-run",shard="0",version="${JSON.parse(readFileSync('package.json', 'utf8')).version}"}`)).toBe(1);
    });

    it('a Pushgateway that is down: one warning without the URL\'s password, and the exit code of the export', async () => {
      const port = await freePort(); // nobody listens there
      const r = await runCli(exportArgs('down', ['--metrics-push', `http://ops:hunter2-pw@127.0.0.1:${port}`]));
      expect(r.code, r.stderr).toBe(0);
      const warnings = logLines(r.stderr).filter((l) => l.level === 40);
      expect(warnings.map((l) => l.msg)).toEqual([
        expect.stringMatching(new RegExp(`^could not push the metrics to the Pushgateway http://\\*\\*\\*@127\\.0\\.0\\.1:${port}/: .*ECONNREFUSED.*; the export itself is not affected$`)),
      ]);
      expect(logLines(r.stderr).at(-1)).toMatchObject({ msg: 'export finished', exitCode: 0 });
      expect(r.stderr).not.toContain('hunter2-pw');
    });

    it('a Pushgateway that is down after a failed run: the warning on stderr, the exit code of the failure', async () => {
      const port = await freePort();
      const r = await runCli(exportArgs('down-failed', ['--metrics-push', `http://ops:hunter2-pw@127.0.0.1:${port}`], join(dir, 'missing.csv')));
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^amp-profile-export: warning: could not push the metrics to the Pushgateway http:\/\/\*\*\*@127\.0\.0\.1:\d+\/: .*ECONNREFUSED/);
      expect(lines[1]).toMatch(/missing\.csv: no such file/);
      expect(r.stderr).not.toContain('hunter2-pw');
    });
  });
});

describe('--metrics-push on the command line (no Pushgateway needed)', () => {
  it('a URL that is not http(s) is one line and exit 2, its credentials not shown', async () => {
    const r = await runCli(['export', '--input', 'x.csv', '--output', join(tempDir(), 'o.csv'), '--rec-id', 'h', '--metrics-push', 'ftp://ops:hunter2-pw@gw:9091']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining("--metrics-push expects a Pushgateway's http(s) URL (http://pushgateway:9091), got ftp://***@gw:9091")]);
    expect(r.stderr).not.toContain('hunter2-pw');
  });
});
