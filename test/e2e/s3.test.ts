import { AbortMultipartUploadCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, startCli } from '../support/cli.js';
import { repeatedRequests, type SyntheticJob, syntheticJob } from '../support/e2e.js';
import { syntheticUsers } from '../support/emulator.js';
import { killAndRerun, until } from '../support/kill-loop.js';
import { type LocalS3, startS3 } from '../support/s3.js';

// As test/e2e/resume.test.ts: 100 requests a second, 600 users, a run lasts ~6 s.
const RATE = ['--rate-limit', '100', '--rate-interval', '1'];
const USERS = 600;
const CONCURRENCY = 16;
const FLAGS = ['--rec-id', 'homepage,email-weekly', '--prediction-id', 'p-churn', ...RATE, '--concurrency', String(CONCURRENCY)];

let job: SyntheticJob;
let emu: RunningEmulator;
let s3: LocalS3;
let dir: string;
let usersText: string;
let reference: Buffer;
let referenceErrors: Buffer;

beforeAll(async () => {
  // A row with no id in the middle: the errors object gets it, once.
  [job, s3] = await Promise.all([syntheticJob({ users: USERS, flags: FLAGS, edit: (csv) => csv.replace('user-300,\n', 'user-300,\n,\n') }), startS3('in', 'out')]);
  ({ emu, dir, usersText } = job);
  await s3.put('in', 'users.csv', usersText);
  reference = readFileSync(job.referencePath);
  referenceErrors = readFileSync(`${job.referencePath}.errors.csv`);
});
afterAll(async () => {
  await job?.close();
  await s3?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCli(args, { env: { ...s3.env, ...env } });
const start = (args: string[]) => startCli(args, { env: s3.env });
const s3Args = (key: string, extra: string[] = [], input = 's3://in/users.csv') => ['export', '--input', input, '--output', `s3://out/${key}`, '--api-url', emu.url, '--s3-path-style', ...FLAGS, ...extra];

async function checkpointOf(key: string): Promise<Record<string, any> | undefined> {
  const body = await s3.get('out', `${key}.checkpoint.json`);
  return body && JSON.parse(body.toString('utf8'));
}

/** What a successful run must not leave: segment objects, and an upload still open. */
async function expectNoLeftovers(key: string) {
  expect(await s3.keys('out', `${key}.parts/`)).toEqual([]);
  expect(await s3.keys('out', `${key}.errors.csv.parts/`)).toEqual([]);
  const cp = await checkpointOf(key);
  expect(cp?.done).toBe(true);
  // fauxqs has no ListMultipartUploads: ask for the upload the checkpoint named instead.
  const abort = s3.client.send(new AbortMultipartUploadCommand({ Bucket: 'out', Key: key, UploadId: cp!.outputState.uploadId }));
  await expect(abort).rejects.toMatchObject({ name: 'NoSuchUpload' });
}

/**
 * Waits until the checkpoint on S3 satisfies `ok` (a loaded machine starts the CLI slowly, so
 * kills are timed from what the run has done, not from its start); undefined after 20 s.
 */
async function checkpointWhen(key: string, ok: (cp: Record<string, any>) => boolean): Promise<Record<string, any> | undefined> {
  for (let i = 0; i < 400; i++) {
    const cp = await checkpointOf(key);
    if (cp && !cp.done && ok(cp)) return cp;
    await sleep(50);
  }
  return undefined;
}

/** SIGKILL once the run has saved a checkpoint on S3 with some users in it. */
async function killWhenCheckpointed(run: ReturnType<typeof startCli>, key: string): Promise<Record<string, any>> {
  const seen = await checkpointWhen(key, (cp) => cp.counts.users > 0);
  run.child.kill('SIGKILL');
  await run.done;
  if (!seen) throw new Error(`no checkpoint at s3://out/${key}.checkpoint.json after 20 s`);
  return (await checkpointOf(key))!;
}

const repeated = () => repeatedRequests(emu);
/**
 * Resolves once the emulator was asked for `n` more distinct users than now (but at most `cap`,
 * which leaves the run work to be killed in), or the run ended.
 */
const moreAsked = (n: number, cap: number, alive: () => boolean) => {
  const target = Math.min(emu.asked() + n, cap);
  return until(() => emu.asked() >= target, alive);
};

describe('S3 in and out', () => {
  it('S3 → S3 gives the same bytes as the local export, errors object included, and leaves nothing behind', async () => {
    // The SDK's own warnings left on, as in production.
    const r = await cli(s3Args('plain.csv', ['--rate-limit', '0']), { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined });
    expect(r.code, r.stderr).toBe(0);
    // Off a terminal every stderr line is a JSON object: on Node 20 the SDK's notice that it will
    // need Node 22 is one warn line, not the eight lines of text Node prints.
    const stderr = r.stderr.trim().split('\n');
    expect(stderr.filter((l) => !l.startsWith('{'))).toEqual([]);
    if (Number(process.versions.node.split('.')[0]) < 22) {
      expect(logLines(r.stderr).filter((l) => /NodeVersionSupportWarning/.test(String(l['msg'])))).toMatchObject([{ level: 40, warning: 'Warning' }]);
    }
    expect((await s3.get('out', 'plain.csv'))!.equals(reference)).toBe(true);
    expect((await s3.get('out', 'plain.csv.errors.csv'))!.equals(referenceErrors)).toBe(true);
    await expectNoLeftovers('plain.csv');
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'out', Key: 'plain.csv' }));
    expect(head.ContentType).toMatch(/^text\/csv/);
    const summary = logLines(r.stderr).at(-1)!;
    expect(summary).toMatchObject({ input: 's3://in/users.csv', output: 's3://out/plain.csv', outputBytes: reference.length });
  });

  it('no errors: no errors object; JSONL to S3 equals JSONL to a file', async () => {
    const clean = syntheticUsers(50);
    writeFileSync(join(dir, 'clean.csv'), clean);
    await s3.put('in', 'clean.csv', clean);
    const local = join(dir, 'clean.jsonl');
    const flags = ['--api-url', emu.url, '--rec-id', 'homepage', '--rate-limit', '0'];
    expect((await cli(['export', '--input', join(dir, 'clean.csv'), '--output', local, ...flags])).code).toBe(0);
    const r = await cli(['export', '--input', 's3://in/clean.csv', '--output', 's3://out/clean.jsonl', '--s3-path-style', ...flags]);
    expect(r.code, r.stderr).toBe(0);
    expect((await s3.get('out', 'clean.jsonl'))!.equals(readFileSync(local))).toBe(true);
    expect(await s3.exists('out', 'clean.jsonl.errors.csv')).toBe(false);
    await expectNoLeftovers('clean.jsonl');
  });

  it('SIGKILL at random moments, then rerun until done: the object is byte-identical, nothing left over', async () => {
    emu.resetStats();
    const key = 'killed.csv';
    const kills = 4;
    let before = -1;
    const { schedule, last } = await killAndRerun({
      kills,
      seed: 3,
      start: () => start(s3Args(key)),
      // The first kill after a seeded number (0-39) of users asked from the start, maybe before
      // any checkpoint; the others once the run has checkpointed progress, after 0-29 more.
      moment: async (k, alive, random) => {
        const more = Math.floor(random() * (k === 0 ? 40 : 30));
        if (k > 0) {
          const cp = await checkpointWhen(key, (c) => c.counts.users > before);
          // The checkpoint lives on S3 beside the output, unfinished, naming the open upload.
          expect(cp?.outputState?.uploadId, `kill ${k}`).toEqual(expect.any(String));
        }
        await moreAsked(more, USERS - 60, alive);
        return `${k === 0 ? 'start' : 'checkpoint'} + ${more} users`;
      },
      afterKill: async (k) => {
        // Nobody ever sees a partial object at the final key.
        expect(await s3.exists('out', key), `kill ${k}`).toBe(false);
        before = (await checkpointOf(key))?.counts.users ?? -1;
      },
      // The rerun's speed is not under test: it runs unthrottled.
      rerun: () => cli(s3Args(key, ['--rate-limit', '0'])),
    });
    expect(last.code, last.stderr).toBe(0);
    expect((await s3.get('out', key))!.equals(reference), schedule).toBe(true);
    expect((await s3.get('out', `${key}.errors.csv`))!.equals(referenceErrors)).toBe(true);
    await expectNoLeftovers(key);
    // Bound per kill, as for local files: ≤ 1 s of work at 100/s (+50 % slack) plus in flight.
    expect(repeated(), schedule).toBeLessThanOrEqual(kills * (150 + CONCURRENCY));
    expect(Object.keys(emu.stats().perId!)).toHaveLength(USERS);
  });

  it('a multipart export (5 MiB parts), killed across part boundaries and resumed: byte-identical', async () => {
    // 30 rec ids in JSONL: ~14 KB a user, 900 users ~12 MB: two parts and a tail.
    const recs = Array.from({ length: 30 }, (_, i) => `rec-${i}`).join(',');
    const n = 900;
    const text = syntheticUsers(n, 'big-');
    writeFileSync(join(dir, 'big.csv'), text);
    await s3.put('in', 'big.csv', text);
    const flags = ['--api-url', emu.url, '--rec-id', recs, '--concurrency', String(CONCURRENCY)];
    const local = join(dir, 'big.jsonl');
    expect((await cli(['export', '--input', join(dir, 'big.csv'), '--output', local, ...flags, '--rate-limit', '0'])).code).toBe(0);
    const args = ['export', '--input', 's3://in/big.csv', '--output', 's3://out/big.jsonl', '--s3-path-style', '--s3-part-size', '5', ...flags, '--rate-limit', '150', '--rate-interval', '1'];
    // Kill 1: within 0-99 users asked after the first checkpoint (segments only). Kill 2: the
    // same after the first part (parts and segments). Kill 3: the same after more progress.
    const when = [
      () => (cp: Record<string, any>) => cp.counts.users > 0,
      () => (cp: Record<string, any>) => cp.outputState.parts.length >= 1,
      (users: number) => (cp: Record<string, any>) => cp.counts.users > users,
    ];
    let users = 0;
    emu.resetStats(); // the progress below counts the users asked since the reference run
    const { schedule, last } = await killAndRerun({
      kills: 3,
      seed: 5,
      start: () => start(args),
      moment: async (k, alive, random) => {
        const cp = await checkpointWhen('big.jsonl', when[k]!(users));
        expect(cp, `kill ${k}`).toBeDefined();
        const more = Math.floor(random() * 100);
        await moreAsked(more, n - 90, alive);
        return `${cp!.outputState.parts.length} parts + ${more} users`;
      },
      afterKill: async () => {
        users = (await checkpointOf('big.jsonl'))?.counts.users ?? 0;
      },
      rerun: () => cli([...args, '--rate-limit', '0']),
    });
    expect(last.code, last.stderr).toBe(0);
    const got = (await s3.get('out', 'big.jsonl'))!;
    expect(got.length).toBe(readFileSync(local).length);
    expect(got.equals(readFileSync(local)), schedule).toBe(true);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'out', Key: 'big.jsonl' }));
    expect(head.ETag).toMatch(/-[2-9]"$/); // assembled from several parts
    await expectNoLeftovers('big.jsonl');
  });

  it('SIGTERM: exit 143 with the upload left open (no partial object), and the rerun completes identically', async () => {
    emu.resetStats();
    const key = 'term.csv';
    const run = start(s3Args(key));
    await until(() => emu.asked() >= 150, () => run.child.exitCode === null);
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(143);
    expect(await s3.exists('out', key)).toBe(false);
    const cp = (await checkpointOf(key))!;
    expect(cp.done).toBe(false);
    expect(cp.outputState.bytes).toBe(cp.outputBytes);
    const again = await cli(s3Args(key, ['--rate-limit', '0']));
    expect(again.code, again.stderr).toBe(0);
    expect((await s3.get('out', key))!.equals(reference)).toBe(true);
    expect(repeated()).toBe(0);
    await expectNoLeftovers(key);
  });

  it('an input object replaced between runs is refused (exit 2) before any request', async () => {
    await s3.put('in', 'moving.csv', usersText);
    await killWhenCheckpointed(start(s3Args('moving.csv', [], 's3://in/moving.csv')), 'moving.csv');
    await s3.put('in', 'moving.csv', usersText.replace('user-5,', 'user-5b,'));
    emu.resetStats();
    const r = await cli(s3Args('moving.csv', [], 's3://in/moving.csv'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/belongs to another job: input object changed \(ETag "[0-9a-f]+" then, "[0-9a-f]+" now\).*--fresh/);
    expect(emu.stats().requests).toBe(0);
  });

  it('--fresh aborts the old upload and deletes its segments, then writes the whole export', async () => {
    const key = 'fresh.csv';
    const old = await killWhenCheckpointed(start(s3Args(key)), key);
    const oldSegments: string[] = old.outputState.segments.map((s: { key: string }) => s.key);
    expect(oldSegments.length).toBeGreaterThan(0);
    const r = await cli(s3Args(key, ['--fresh', '--rate-limit', '0']));
    expect(r.code, r.stderr).toBe(0);
    expect((await s3.get('out', key))!.equals(reference)).toBe(true);
    const abort = s3.client.send(new AbortMultipartUploadCommand({ Bucket: 'out', Key: key, UploadId: old.outputState.uploadId }));
    await expect(abort).rejects.toMatchObject({ name: 'NoSuchUpload' });
    for (const k of oldSegments) expect(await s3.exists('out', k)).toBe(false);
    await expectNoLeftovers(key);
  });

  it('a finished job run again says so, sends no request and leaves the object as it was', async () => {
    const key = 'twice.csv';
    expect((await cli(s3Args(key, ['--rate-limit', '0']))).code).toBe(0);
    emu.resetStats();
    const r = await cli(s3Args(key));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/already completed/);
    expect(emu.stats().requests).toBe(0);
    expect((await s3.get('out', key))!.equals(reference)).toBe(true);
    await expectNoLeftovers(key);
  });

  it("a finished job's object is replaced by another job's (its old upload and segments discarded)", async () => {
    const key = 'replaced.csv';
    expect((await cli(s3Args(key, ['--rate-limit', '0']))).code).toBe(0);
    const other = ['export', '--input', 's3://in/users.csv', '--output', `s3://out/${key}`, '--api-url', emu.url, '--s3-path-style', '--rec-id', 'homepage', '--rate-limit', '0'];
    const r = await cli(other);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the previous job at s3:\/\/out\/replaced\.csv\.checkpoint\.json finished; this one differs/);
    const got = (await s3.get('out', key))!.toString('utf8');
    expect(got.split('\n')[0]).not.toContain('propensity_p-churn');
    expect(got.split('\n').length).toBe(USERS + 2); // header, one row per user, final line feed
    await expectNoLeftovers(key);
  });

  it('--checkpoint s3:// with local input and output; SSE flags are accepted', async () => {
    const out = join(dir, 'local-out.csv');
    const r = await cli([
      'export', '--input', join(dir, 'users.csv'), '--output', out, '--checkpoint', 's3://out/jobs/local.checkpoint.json', '--api-url', emu.url,
      '--s3-path-style', '--s3-sse', 'aws:kms', '--s3-kms-key-id', 'alias/exports', ...FLAGS, '--rate-limit', '0',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(reference)).toBe(true);
    const cp = JSON.parse((await s3.get('out', 'jobs/local.checkpoint.json'))!.toString('utf8'));
    expect(cp).toMatchObject({ done: true, outputBytes: reference.length });
    expect(cp.outputState).toBeUndefined();
  });
});

describe('bad S3 locations: exit 2, one line naming the URL, no API request', () => {
  let closedPort: number;
  beforeAll(async () => {
    // A port that was free a moment ago and that nothing listens on.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    closedPort = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    // The cases run side by side (each is one short process): no case may send a request, so
    // the count is reset once here and must still be 0 after each.
    emu.resetStats();
  });

  const noCredentials = { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined, AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_WEB_IDENTITY_TOKEN_FILE: undefined, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined, AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined };
  const cases: Array<[string, () => string[], RegExp, () => Record<string, string | undefined>]> = [
    ['an input URL without a key', () => ['--input', 's3://in'], /--input s3:\/\/in: no key \(expected s3:\/\/bucket\/key\)/, () => ({})],
    ['an input URL without a bucket', () => ['--input', 's3:///users.csv'], /--input s3:\/\/\/users\.csv: no bucket/, () => ({})],
    ['an output URL naming a folder', () => ['--input', 's3://in/users.csv', '--output', 's3://out/exports/'], /--output s3:\/\/out\/exports\/: the key ends with \//, () => ({})],
    ['an input object that does not exist', () => ['--input', 's3://in/missing.csv'], /^amp-profile-export: --input s3:\/\/in\/missing\.csv: no such object$/, () => ({})],
    ['an input bucket that does not exist', () => ['--input', 's3://nobucket/users.csv'], /--input s3:\/\/nobucket\/users\.csv: no such bucket \(nobucket\)/, () => ({})],
    ['an output bucket that does not exist', () => ['--input', 's3://in/users.csv', '--output', 's3://nobucket/out.csv'], /s3:\/\/nobucket\/out\.csv.*: no such bucket/, () => ({})],
    [
      'an unreachable endpoint (closed port)',
      () => ['--input', 's3://in/users.csv'],
      /--input s3:\/\/in\/users\.csv: cannot reach S3 at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
      () => ({ AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${closedPort}`, AWS_MAX_ATTEMPTS: '1' }),
    ],
    ['no AWS credentials anywhere', () => ['--input', 's3://in/users.csv'], /--input s3:\/\/in\/users\.csv: no AWS credentials found/, () => noCredentials],
    ['no AWS region', () => ['--input', 's3://in/users.csv'], /--input s3:\/\/in\/users\.csv: no AWS region configured \(set AWS_REGION\)/, () => ({ AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined, AWS_CONFIG_FILE: '/nonexistent/config' })],
    ['--s3-sse with an unknown value', () => ['--input', 's3://in/users.csv', '--s3-sse', 'aes'], /--s3-sse expects AES256 or aws:kms, got aes/, () => ({})],
  ];

  it.concurrent.for(cases)('%s', async ([, args, message, env], { expect }) => {
    const r = await cli(['export', '--output', 's3://out/bad.csv', '--api-url', emu.url, '--s3-path-style', ...args()], env());
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(emu.stats().requests).toBe(0);
    expect(await s3.exists('out', 'bad.csv')).toBe(false);
  });
});
