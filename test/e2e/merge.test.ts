import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';
import { runMerge } from '../../src/merge.js';
import { MIB } from '../../src/aws/settings.js';
import { type LocalS3, startS3 } from '../support/s3.js';
import { recordS3 } from '../support/s3-recorder.js';

let emu: RunningEmulator;
let s3: LocalS3;
let dir: string;
let input: string;
const USERS = 200;
beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  s3 = await startS3('out');
  dir = tempDir();
  input = join(dir, 'users.csv');
  writeFileSync(input, syntheticUsers(USERS));
});
afterAll(async () => {
  await emu?.close();
  await s3?.stop();
});

const exportShard = (i: number, n: number, ext: string) =>
  runCli(['export', '--input', input, '--output', join(dir, `shard-{shard}.${ext}`), '--api-url', emu.url, '--rate-limit', '0', '--rec-id', 'homepage,email-weekly', '--shard', `${i}/${n}`]);

// Each test spawns the CLI up to five times: a loaded 2-core machine needs more than the default minute.
const SLOW = { timeout: 180_000 };

describe('merge', SLOW, () => {
  it('joins the shards of a sharded export into one CSV with one header, every user once', async () => {
    for (const i of [0, 1, 2]) expect((await exportShard(i, 3, 'csv')).code).toBe(0);
    const whole = join(dir, 'whole.csv');
    expect((await runCli(['export', '--input', input, '--output', whole, '--api-url', emu.url, '--rate-limit', '0', '--rec-id', 'homepage,email-weekly'])).code).toBe(0);
    const merged = join(dir, 'merged.csv');
    const r = await runCli(['merge', join(dir, 'shard-{shard}.csv'), '--shards', '3', '--output', merged]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(merged, 'utf8').trimEnd().split('\n');
    const wholeLines = readFileSync(whole, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(wholeLines[0]);
    expect(lines.filter((l) => l === lines[0])).toHaveLength(1);
    // Same rows as the unsharded export, in shard order instead of input order.
    expect([...lines.slice(1)].sort()).toEqual([...wholeLines.slice(1)].sort());
    expect(new Set(lines.slice(1).map((l) => l.split(',')[0])).size).toBe(USERS);
    expect(r.stderr).toMatch(new RegExp(`merged 3 files into .*merged.csv: ${lines.length - 1} lines`));
  });

  it('concatenates JSONL shards (explicit file list)', async () => {
    for (const i of [0, 1]) expect((await exportShard(i, 2, 'jsonl')).code).toBe(0);
    const merged = join(dir, 'merged.jsonl');
    const r = await runCli(['merge', join(dir, 'shard-0.jsonl'), join(dir, 'shard-1.jsonl'), '--output', merged]);
    expect(r.code).toBe(0);
    const objs = readFileSync(merged, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { user_id: string });
    expect(new Set(objs.map((o) => o.user_id)).size).toBe(USERS);
  });

  it('refuses files of different jobs (other headers) with exit 2 and leaves no output', async () => {
    const a = join(dir, 'a.csv');
    const b = join(dir, 'b.csv');
    writeFileSync(a, 'user_id,device_id,status\nu1,,ok\n');
    writeFileSync(b, 'user_id,device_id,propensity_p,status\nu2,,0.1,ok\n');
    const out = join(dir, 'bad-merge.csv');
    const r = await runCli(['merge', a, b, '--output', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/b\.csv has another header than .*a\.csv/);
    expect(existsSync(out)).toBe(false);
  });

  it('a missing shard file is exit 2 naming it', async () => {
    const r = await runCli(['merge', join(dir, 'nope-{shard}.csv'), '--shards', '2', '--output', join(dir, 'x.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope-0\.csv: no such file/);
  });
});


/** The CLI pointed at fauxqs, as a user points it at an S3-compatible store. */
const s3Cli = (args: string[], env: Record<string, string> = {}) => runCli([...args, '--s3-path-style'], { env: { ...s3.env, ...env } });
const CSV = 'user_id,device_id,status\n';

describe('merge with S3 (fauxqs)', SLOW, () => {
  it('finishes the sharded S3 workflow as the README prints it: three shard exports to s3://, then merge s3:// to s3://', async () => {
    for (const i of [0, 1, 2]) {
      const r = await s3Cli(['export', '--input', input, '--output', 's3://out/run/shard-{shard}.csv', '--api-url', emu.url, '--rate-limit', '0', '--rec-id', 'homepage,email-weekly', '--shard', `${i}/3`]);
      expect(r.code, r.stderr).toBe(0);
    }
    const r = await s3Cli(['merge', 's3://out/run/shard-{shard}.csv', '--shards', '3', '--output', 's3://out/run/all.csv']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/merged 3 files into s3:\/\/out\/run\/all\.csv: \d+ lines/);
    // The same bytes as merging the three shard objects' bytes by hand: first header once, rows in shard order.
    const shards = await Promise.all([0, 1, 2].map(async (i) => (await s3.get('out', `run/shard-${i}.csv`))!.toString('utf8')));
    const header = shards[0]!.slice(0, shards[0]!.indexOf('\n') + 1);
    for (const t of shards) expect(t.startsWith(header)).toBe(true);
    const expected = header + shards.map((t) => t.slice(header.length)).join('');
    const merged = (await s3.get('out', 'run/all.csv'))!.toString('utf8');
    expect(merged).toBe(expected);
    expect(new Set(merged.trimEnd().split('\n').slice(1).map((l) => l.split(',')[0])).size).toBe(USERS);
  });

  it('mixes local and S3 inputs, to a local file and to S3, with the same bytes', async () => {
    const a = join(dir, 'mix-0.csv');
    writeFileSync(a, `${CSV}u0,,ok\n`);
    await s3.put('out', 'mix/part-1.csv', `${CSV}u1,,ok\n`);
    await s3.put('out', 'mix/part-2.csv', `${CSV}u2,,ok\nu3,,ok`); // no final line feed: one is added
    const local = join(dir, 'mixed.csv');
    const toLocal = await s3Cli(['merge', a, 's3://out/mix/part-1.csv', 's3://out/mix/part-2.csv', '--output', local]);
    expect(toLocal.code, toLocal.stderr).toBe(0);
    const want = `${CSV}u0,,ok\nu1,,ok\nu2,,ok\nu3,,ok\n`;
    expect(readFileSync(local, 'utf8')).toBe(want);
    expect(toLocal.stderr).toMatch(/: 4 lines, /);
    const toS3 = await s3Cli(['merge', 's3://out/mix/part-1.csv', a, '--output', 's3://out/mix/all.csv']);
    expect(toS3.code, toS3.stderr).toBe(0);
    expect((await s3.get('out', 'mix/all.csv'))!.toString('utf8')).toBe(`${CSV}u1,,ok\nu0,,ok\n`);
  });

  it('writes an output larger than a part as several parts, byte for byte (--s3-part-size 5)', async () => {
    // Three shards of ~4 MiB: 12 MiB in parts of 5 MiB (fauxqs takes bodies up to 11 MiB).
    const row = (i: number) => `user-${String(i).padStart(8, '0')},device-${'x'.repeat(60)},ok\n`;
    const bodies = [0, 1, 2].map((s) => {
      const rows: string[] = [];
      for (let i = s * 50_000; i < (s + 1) * 50_000; i++) rows.push(row(i));
      return CSV + rows.join('');
    });
    for (const [i, b] of bodies.entries()) await s3.put('out', `big/shard-${i}.csv`, b);
    const rec = await recordS3(s3.endpoint);
    try {
      const r = await s3Cli(['merge', 's3://out/big/shard-{shard}.csv', '--shards', '3', '--output', 's3://out/big/all.csv', '--s3-part-size', '5'], { AWS_ENDPOINT_URL_S3: rec.endpoint });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/: 150000 lines, /);
    } finally {
      await rec.close();
    }
    const merged = (await s3.get('out', 'big/all.csv'))!;
    expect(merged.equals(Buffer.from(CSV + bodies.map((b) => b.slice(CSV.length)).join('')))).toBe(true);
    expect(merged.length).toBeGreaterThan(10 * 1024 * 1024);
    const partUploads = rec.seen.filter((q) => q.method === 'PUT' && /[?&]partNumber=/.test(q.url) && q.url.startsWith('/out/big/all.csv'));
    expect(partUploads).toHaveLength(3);
  });

  it('a missing shard object is exit 2 naming it, and the output is not touched', async () => {
    await s3.put('out', 'gap/shard-0.csv', `${CSV}u0,,ok\n`);
    await s3.put('out', 'gap/shard-2.csv', `${CSV}u2,,ok\n`);
    await s3.put('out', 'gap/all.csv', 'yesterday\n');
    const r = await s3Cli(['merge', 's3://out/gap/shard-{shard}.csv', '--shards', '3', '--output', 's3://out/gap/all.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('amp-profile-export: merge: s3://out/gap/shard-1.csv: no such object');
    expect((await s3.get('out', 'gap/all.csv'))!.toString()).toBe('yesterday\n');
    const bucket = await s3Cli(['merge', 's3://nobucket/shard-{shard}.csv', '--shards', '2', '--output', join(dir, 'nb.csv')]);
    expect(bucket.code).toBe(2);
    expect(bucket.stderr).toMatch(/s3:\/\/nobucket\/shard-0\.csv: no such bucket \(nobucket\) \(and 1 more of the 2 inputs\)/);
  });

  it('other headers: exit 2, the upload is aborted, and the previous object at the key stays as it was', async () => {
    await s3.put('out', 'bad/a.csv', `${CSV}u1,,ok\n`);
    await s3.put('out', 'bad/b.csv', 'user_id,device_id,propensity_p,status\nu2,,0.1,ok\n');
    await s3.put('out', 'bad/all.csv', 'yesterday\n');
    const rec = await recordS3(s3.endpoint);
    let r;
    try {
      r = await s3Cli(['merge', 's3://out/bad/a.csv', 's3://out/bad/b.csv', '--output', 's3://out/bad/all.csv'], { AWS_ENDPOINT_URL_S3: rec.endpoint });
    } finally {
      await rec.close();
    }
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/s3:\/\/out\/bad\/b\.csv has another header than s3:\/\/out\/bad\/a\.csv/);
    expect((await s3.get('out', 'bad/all.csv'))!.toString()).toBe('yesterday\n');
    expect(rec.seen.some((q) => q.method === 'POST' && /^\/out\/bad\/all\.csv\?uploads/.test(q.url))).toBe(true);
    expect(rec.seen.some((q) => q.method === 'POST' && /uploadId=/.test(q.url))).toBe(false); // never completed
    const aborted = rec.seen.find((q) => q.method === 'DELETE' && /uploadId=/.test(q.url));
    expect(aborted).toBeDefined();
    // Aborted for real: fauxqs no longer knows the upload.
    const uploadId = new URL(aborted!.url, 'http://x').searchParams.get('uploadId')!;
    await expect(s3.client.send(new AbortMultipartUploadCommand({ Bucket: 'out', Key: 'bad/all.csv', UploadId: uploadId }))).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });

  it('an output bucket that does not exist is exit 2 before anything is read', async () => {
    const a = join(dir, 'nb-0.csv');
    writeFileSync(a, `${CSV}u0,,ok\n`);
    const r = await s3Cli(['merge', a, '--output', 's3://missing-bucket/all.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^amp-profile-export: merge: --output s3:\/\/missing-bucket\/all\.csv: no such bucket/);
  });

  it('a local merge that fails leaves neither the output nor a temporary file', async () => {
    const sub = tempDir();
    writeFileSync(join(sub, 'a.csv'), `${CSV}u1,,ok\n`);
    writeFileSync(join(sub, 'b.csv'), '');
    const r = await runCli(['merge', join(sub, 'a.csv'), join(sub, 'b.csv'), '--output', join(sub, 'all.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/b\.csv is empty \(no header line\)/);
    expect(readdirSync(sub).sort()).toEqual(['a.csv', 'b.csv']);
  });

  it('stopped by a signal (in-process: the stop signal the CLI aborts on SIGTERM): exit 143, no object, upload aborted', async () => {
    await s3.put('out', 'sig/a.csv', `${CSV}u1,,ok\n`);
    const saved = { ...process.env };
    const rec = await recordS3(s3.endpoint);
    Object.assign(process.env, s3.env, { AWS_ENDPOINT_URL_S3: rec.endpoint });
    const stop = new AbortController();
    stop.abort('SIGTERM');
    try {
      const merging = runMerge({ inputs: ['s3://out/sig/a.csv'], output: 's3://out/sig/all.csv', s3: { pathStyle: true, partSize: 8 * MIB }, stop: stop.signal });
      await expect(merging).rejects.toMatchObject({ exitCode: 143, message: 'merge stopped by SIGTERM: no output written' });
    } finally {
      process.env = saved;
      await rec.close();
    }
    expect(await s3.exists('out', 'sig/all.csv')).toBe(false);
    expect(rec.seen.some((q) => q.method === 'POST' && /^\/out\/sig\/all\.csv\?uploads/.test(q.url))).toBe(true);
    expect(rec.seen.some((q) => q.method === 'DELETE' && /^\/out\/sig\/all\.csv\?uploadId=/.test(q.url))).toBe(true);
  });
});
