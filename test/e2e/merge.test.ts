import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

let emu: RunningEmulator;
let dir: string;
let input: string;
const USERS = 200;
beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  dir = tempDir();
  input = join(dir, 'users.csv');
  writeFileSync(input, syntheticUsers(USERS));
});
afterAll(async () => emu.close());

const exportShard = (i: number, n: number, ext: string) =>
  runCli(['export', '--input', input, '--output', join(dir, `shard-{shard}.${ext}`), '--api-url', emu.url, '--rate-limit', '0', '--rec-id', 'homepage,email-weekly', '--shard', `${i}/${n}`]);

describe('merge', () => {
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
