/**
 * What operators see: progress while a run goes, a dry run before it, and the summary and
 * metrics files a dashboard reads after it (README "Operating it").
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { CLI, cliEnv, fixture, logLines, ROOT, runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

/** 60 users at 30 requests a second: a run of about 2 s, progress lines every 0.5 s. */
const USERS = 60;
const SLOW = ['--rate-limit', '30', '--rate-interval', '1'];
const FLAGS = ['--rec-id', 'homepage', '--prediction-id', 'p-churn'];
const PROGRESS_FIELDS = [
  'elapsedSeconds', 'bytesDone', 'bytesTotal', 'percent', 'users', 'ok', 'no_recs', 'unknown_user', 'failed', 'skipped',
  'usersPerSecond', 'requestsPerSecond', 'limitPerSecond', 'share', 'etaSeconds',
];

let emu: RunningEmulator;
let dir: string;
let input: string;
beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  dir = tempDir('ape-operator-');
  input = join(dir, 'users.csv');
  writeFileSync(input, syntheticUsers(USERS));
});
afterAll(async () => emu.close());

const exportArgs = (out: string, extra: string[] = [], from = input) => ['export', '--input', from, '--output', out, '--api-url', emu.url, ...FLAGS, ...extra];
const progressLines = (stderr: string) => logLines(stderr).filter((l) => l.msg === 'progress');

describe('progress', () => {
  it('off a terminal: a JSON "progress" line every --progress-interval seconds, with every field, before the summary line', async () => {
    const r = await runCli(exportArgs(join(dir, 'progress.csv'), [...SLOW, '--progress-interval', '0.5']));
    expect(r.code, r.stderr).toBe(0);
    const lines = progressLines(r.stderr);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(expect.arrayContaining(PROGRESS_FIELDS));
      expect(l).toMatchObject({ level: 30, bytesTotal: statSync(input).size, limitPerSecond: 30, share: 1, failed: 0, skipped: 0 });
      expect(l.ok as number).toBe(l.users); // synthetic users all have recs
      expect(l.percent as number).toBeGreaterThanOrEqual(0);
      expect(l.percent as number).toBeLessThanOrEqual(100);
    }
    const percents = lines.map((l) => l.percent as number);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    // By the second line requests have been flowing for a while: a rate and an ETA are known.
    expect(lines.at(-1)!.requestsPerSecond as number).toBeGreaterThan(0);
    expect(lines.at(-1)!.etaSeconds).not.toBeNull();
    expect(logLines(r.stderr).at(-1)).toMatchObject({ msg: 'export finished', users: USERS });
  });

  it.each([
    ['--no-progress', ['--no-progress'], {}],
    ['AMP_EXPORT_PROGRESS=false', [], { AMP_EXPORT_PROGRESS: 'false' }],
  ])('%s: no progress line at all', async (_name, extra, env) => {
    const r = await runCli(exportArgs(join(dir, 'quiet.csv'), [...SLOW, '--progress-interval', '0.5', '--fresh', ...extra]), { env });
    expect(r.code, r.stderr).toBe(0);
    expect(progressLines(r.stderr)).toEqual([]);
    expect(r.stderr).not.toContain('\r');
  });

  it('takes --progress-interval from AMP_EXPORT_PROGRESS_INTERVAL like every flag', async () => {
    const r = await runCli(exportArgs(join(dir, 'env-interval.csv'), SLOW), { env: { AMP_EXPORT_PROGRESS_INTERVAL: '0.5' } });
    expect(r.code, r.stderr).toBe(0);
    expect(progressLines(r.stderr).length).toBeGreaterThanOrEqual(2);
  });

  const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
  const hasScript = script.status === 0 && /util-linux/.test(script.stdout);
  if (!hasScript) {
    console.warn('\n!!! SKIPPED: the progress status line on a real terminal needs `script` (util-linux) to get a pty; it is not installed here !!!\n');
  }

  it.skipIf(!hasScript)('on a terminal (a real pty under `script`): one status line redrawn with \\r, cleared before every log line', async () => {
    const out = join(dir, 'tty.csv');
    const cmd = [process.execPath, CLI, ...exportArgs(out, [...SLOW, '--rate-limit', '25'])].join(' ');
    const pty = spawn('script', ['-q', '-e', '-c', `stty cols 200 rows 40; exec ${cmd}`, '/dev/null'], {
      cwd: ROOT,
      env: cliEnv() as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let screen = '';
    pty.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
    const code = await new Promise<number | null>((resolve) => pty.on('close', resolve));
    expect(code, screen).toBe(0);
    const draws = screen.match(/\r +\d+\.\d% [█░]{20} {2}[\d,]+ users {2}[\d.]+ users\/s {2}[\d.]+\/25\.0 req\/s {2}ETA \S+( \S+)? {2}ok [\d,]+ · no_recs [\d,]+ · unknown [\d,]+ · failed [\d,]+ · skipped [\d,]+\x1b\[K/g) ?? [];
    expect(draws.length, JSON.stringify(screen.slice(0, 600))).toBeGreaterThanOrEqual(2);
    // The summary is a human-readable log line at the start of a cleared line, not glued to the bar.
    expect(screen).toMatch(/\r\x1b\[K\d\d:\d\d:\d\d info export finished .*users=60/);
    // Nothing is drawn after the summary: the status line was cleared at the end.
    expect(screen.slice(screen.indexOf('export finished'))).not.toContain('█');
    expect(readFileSync(out, 'utf8').trimEnd().split('\n')).toHaveLength(1 + USERS);
  });
});

describe('--dry-run', () => {
  it('counts the fixture users, the row with no id and the duplicate, sends no request and writes no file', async () => {
    emu.resetStats();
    const where = join(dir, 'dry');
    mkdirSync(where);
    const r = await runCli(exportArgs(join(where, 'out.csv'), ['--dry-run', '--summary', join(where, 'summary.json'), '--metrics-file', join(where, 'm.prom')], fixture('users.csv')));
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats().requests).toBe(0);
    expect(readdirSync(where)).toEqual([]);
    // fixtures/users.csv: 20 rows, line 12 has no id, u-1002 comes twice (lines 6 and 19).
    expect(r.stdout).toMatch(/^ {2}users +19$/m);
    expect(r.stdout).toMatch(/^ {2}unreadable rows +1 /m);
    expect(r.stdout).toMatch(/^ {4}line 12: no user_id or device_id$/m);
    expect(r.stdout).toMatch(/^ {2}duplicate ids +1 /m);
    expect(r.stdout).toMatch(/^ {4}line 19: u-1002$/m);
    expect(r.stdout).toMatch(/^ {2}estimated time +2s for 19 requests at 10 a second/m);
    expect(r.stdout).toMatch(/secret key +found \(AMPLITUDE_SECRET_KEY\); not checked/);
    expect(r.stdout).not.toContain('WARNING');
    const last = logLines(r.stderr).at(-1)!;
    expect(last).toMatchObject({
      msg: 'dry run: no request sent, no file written',
      users: 19,
      unreadable: 1,
      unreadableExamples: [{ line: 12, reason: 'no user_id or device_id' }],
      duplicates: 1,
      duplicateExamples: [{ line: 19, id: 'u-1002' }],
      estimatedSeconds: 2,
    });
  });

  it('with a preset, counts the rows the tool cannot import as a real run skips them', async () => {
    const preset = ['--preset', 'klaviyo', '--split-bytes', '0', '--rate-limit', '0'];
    const dry = await runCli(exportArgs(join(dir, 'klaviyo-dry.csv'), ['--dry-run', ...preset], fixture('users.csv')));
    expect(dry.code, dry.stderr).toBe(0);
    const real = await runCli(exportArgs(join(dir, 'klaviyo-real.csv'), preset, fixture('users.csv')));
    expect(real.code, real.stderr).toBe(0);
    const d = logLines(dry.stderr).at(-1)!;
    const run = logLines(real.stderr).at(-1)!;
    expect(run.skipped as number).toBeGreaterThan(1); // the no-id row and the display-name email at least
    expect(d.unreadable).toBe(run.skipped);
    expect(d.users).toBe(run.users);
  });

  it('with a preset whose email column the input lacks: exit 2, as a real run', async () => {
    const noEmail = join(dir, 'no-email.csv');
    writeFileSync(noEmail, 'user_id,device_id\nu-1001,\n');
    const r = await runCli(exportArgs(join(dir, 'x.csv'), ['--dry-run', '--preset', 'klaviyo'], noEmail));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('warns when the list will not fit in a day at the configured rate', async () => {
    // 100 users at 1 a minute: 1 h 40 min; at 1 an hour: 4 days.
    const many = join(dir, 'hundred.csv');
    writeFileSync(many, syntheticUsers(100));
    const night = await runCli(exportArgs(join(dir, 'never.csv'), ['--dry-run', '--rate-limit', '1', '--rate-interval', '300'], many));
    expect(night.code).toBe(0);
    expect(night.stdout).toMatch(/WARNING: longer than a night: 100 users at 1 per 300 s take 8h 20m/);
    const day = await runCli(exportArgs(join(dir, 'never.csv'), ['--dry-run', '--rate-limit', '1', '--rate-interval', '3600'], many));
    expect(day.stdout).toMatch(/WARNING: will not fit in a day: 100 users at 1 per 3600 s take 4d 04h, and 24 users a day is the most this rate allows/);
    expect(logLines(day.stderr).some((l) => l.level === 40 && /will not fit in a day/.test(String(l.msg)))).toBe(true);
  });

  it('needs the secret key like a real run (a missing key is tonight\'s failure): exit 2, one line', async () => {
    emu.resetStats();
    const r = await runCli(exportArgs(join(dir, 'nokey.csv'), ['--dry-run']), { env: { AMPLITUDE_SECRET_KEY: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/no secret key: set AMPLITUDE_SECRET_KEY/)]);
    expect(emu.stats().requests).toBe(0);
  });

  it('refuses what the run would refuse: a missing input, an output that is a directory', async () => {
    const missing = await runCli(exportArgs(join(dir, 'x.csv'), ['--dry-run'], join(dir, 'nope.csv')));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--input .*nope\.csv: no such file/);
    const isDir = join(dir, 'a-directory');
    mkdirSync(isDir);
    const r = await runCli(exportArgs(isDir, ['--dry-run']));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/the run could not write its files: .*a-directory is a directory/)]);
  });

  it('tells what the checkpoint means for tonight: a finished job does nothing', async () => {
    const out = join(dir, 'done.csv');
    expect((await runCli(exportArgs(out, ['--rate-limit', '0']))).code).toBe(0);
    emu.resetStats();
    const r = await runCli(exportArgs(out, ['--dry-run']));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/checkpoint +.*done\.csv\.checkpoint\.json: this job already completed/);
    expect(r.stdout).toMatch(/users +60 \(0 still to export\)/);
    expect(emu.stats().requests).toBe(0);
  });
});

/** Rows per status in an export CSV (the last column). */
function statusCounts(csv: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of csv.trimEnd().split('\n').slice(1)) {
    const status = line.slice(line.lastIndexOf(',') + 1);
    out[status] = (out[status] ?? 0) + 1;
  }
  return out;
}

/** Sample lines of a Prometheus text file: `name{labels} value`, keyed by name and labels. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    out.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  return out;
}

describe('--version', () => {
  it("prints the package's version from any working directory, as a globally installed binary runs", async () => {
    const r = await runCli(['--version'], { cwd: dir });
    expect([r.code, r.stdout.trim()]).toEqual([0, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version]);
  });
});

describe('--summary and --metrics-file', () => {
  it('the summary counts match the output file, the metrics match the summary, the final log line is the summary', async () => {
    const out = join(dir, 'summarised.csv');
    const summaryPath = join(dir, 'reports', 'summary.json');
    const metricsPath = join(dir, 'textfile', 'amp.prom');
    // One --rec-id: one row per user, so rows per status are users per status.
    const r = await runCli(['export', '--input', fixture('users.csv'), '--output', out, '--api-url', emu.url, '--rec-id', 'homepage', '--rate-limit', '0', '--summary', summaryPath, '--metrics-file', metricsPath]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>;
    const rows = statusCounts(readFileSync(out, 'utf8'));
    const errorRows = readFileSync(`${out}.errors.csv`, 'utf8').trimEnd().split('\n').length - 1;
    expect(s).toMatchObject({ ok: rows.ok, no_recs: rows.no_recs, unknown_user: rows.unknown_user, failed: 0, skipped: errorRows });
    expect(s.users).toBe(rows.ok! + rows.no_recs! + rows.unknown_user!);
    expect(s).toMatchObject({
      tool: 'amp-profile-export',
      ended: 'complete',
      exitCode: 0,
      error: null,
      requests: 19,
      retries: 0,
      throttled: 0,
      output: out,
      outputBytes: statSync(out).size,
      errorsFile: `${out}.errors.csv`,
      errorsBytes: statSync(`${out}.errors.csv`).size,
      checkpoint: `${out}.checkpoint.json`,
      checkpointBytes: statSync(`${out}.checkpoint.json`).size,
    });
    expect(Date.parse(s.finishedAt as string)).toBeGreaterThanOrEqual(Date.parse(s.startedAt as string));
    expect(s.version).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);

    const { level: _l, time: _t, msg, ...line } = logLines(r.stderr).at(-1)!;
    expect(msg).toBe('export finished');
    expect(line).toEqual(s);

    const m = parseMetrics(readFileSync(metricsPath, 'utf8'));
    for (const st of ['ok', 'no_recs', 'unknown_user', 'failed', 'skipped'] as const) expect(m.get(`amp_profile_export_users_total{status="${st}"}`), st).toBe(s[st]);
    expect(m.get('amp_profile_export_requests_total')).toBe(s.requests);
    expect(m.get('amp_profile_export_duration_seconds')).toBe(s.durationSeconds);
    expect(m.get('amp_profile_export_exit_code')).toBe(0);
    expect(m.get('amp_profile_export_last_run_timestamp_seconds')).toBe(Date.parse(s.finishedAt as string) / 1000);
    expect(readdirSync(join(dir, 'textfile'))).toEqual(['amp.prom']); // no temporary file left behind
  });

  it('a run stopped by SIGTERM leaves a summary that says so, with counts matching what was written', async () => {
    const out = join(dir, 'stopped.csv');
    const summaryPath = join(dir, 'stopped.json');
    const run = startCli(exportArgs(out, [...SLOW, '--summary', summaryPath]));
    // Stop once some users are written (the checkpoint is created at the start, then once a second).
    while (run.child.exitCode === null && (!existsSync(out) || readFileSync(out, 'utf8').split('\n').length < 10)) await new Promise((r) => setTimeout(r, 100));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(143);
    const s = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, number | string>;
    expect(s).toMatchObject({ ended: 'stopped', exitCode: 143 });
    const rows = statusCounts(readFileSync(out, 'utf8'));
    expect(s.users).toBe(rows.ok);
    expect(s.users as number).toBeLessThan(USERS);
  });

  it('SIGTERM after the whole input was read still drops the users not yet sent', async () => {
    // --concurrency 32: the reader has queued all 60 users long before the signal; at 10 a
    // second, 32 are in flight at the first checkpoint and the rest still queued.
    const out = join(dir, 'read-then-stopped.csv');
    const summaryPath = join(dir, 'read-then-stopped.json');
    const run = startCli(exportArgs(out, ['--rate-limit', '10', '--rate-interval', '1', '--concurrency', '32', '--summary', summaryPath]));
    while (run.child.exitCode === null && (!existsSync(out) || readFileSync(out, 'utf8').split('\n').length < 10)) await new Promise((r) => setTimeout(r, 100));
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(143);
    const s = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, number | string>;
    expect(s).toMatchObject({ ended: 'stopped' });
    expect(s.users).toBe(statusCounts(readFileSync(out, 'utf8')).ok);
    expect(s.users as number).toBeLessThan(USERS);
  });

  it('a run that stops on bad input still leaves a summary and metrics with its exit code', async () => {
    const summaryPath = join(dir, 'failed-summary.json');
    const metricsPath = join(dir, 'failed.prom');
    const r = await runCli(exportArgs(join(dir, 'failed.csv'), ['--summary', summaryPath, '--metrics-file', metricsPath], join(dir, 'missing.csv')));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(readFileSync(summaryPath, 'utf8'))).toMatchObject({ ended: 'fatal', exitCode: 2, error: expect.stringMatching(/missing\.csv: no such file/), users: 0, requests: 0 });
    expect(parseMetrics(readFileSync(metricsPath, 'utf8')).get('amp_profile_export_exit_code')).toBe(2);
  });

  it('a finished job run again says so in the summary: already_complete, the job\'s counts, no request', async () => {
    const out = join(dir, 'twice.csv');
    const summaryPath = join(dir, 'twice.json');
    expect((await runCli(exportArgs(out, ['--rate-limit', '0']))).code).toBe(0);
    const r = await runCli(exportArgs(out, ['--rate-limit', '0', '--summary', summaryPath]));
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(summaryPath, 'utf8'))).toMatchObject({ ended: 'already_complete', exitCode: 0, users: USERS, ok: USERS, requests: 0 });
  });

  it('a summary that cannot be written is found before the run: exit 2 naming --summary, nothing exported', async () => {
    const out = join(dir, 'unsummarised.csv');
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const r = await runCli(exportArgs(out, ['--rate-limit', '0', '--summary', join(blocker, 'summary.json')]));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--summary: .*not-a-dir is not a directory/);
    expect(existsSync(out)).toBe(false);
  });
});
