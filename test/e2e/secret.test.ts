import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { fixture, runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

const KEY = 'sk-LEAKCHECK-7f3a9c21e5b4d8';
let emu: RunningEmulator;
let dir: string;
beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true, secretKey: KEY });
  dir = tempDir();
});
afterAll(async () => emu.close());

/** Every byte the run left behind: stdout, stderr and every file in its directory. */
function everything(stdout: string, stderr: string): string {
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'latin1'));
  return [stdout, stderr, ...files].join('\n');
}

describe('the secret key', () => {
  it('appears nowhere at the most verbose log level, with faults, retries, a checkpoint and a 401', async () => {
    const input = join(dir, 'users.csv');
    writeFileSync(input, syntheticUsers(200));
    const keyFile = join(dir, 'key');
    writeFileSync(keyFile, `${KEY}\n`);
    chmodSync(keyFile, 0o600);
    emu.setFaults({ rate: 0.2, kinds: ['500', 'drop', 'truncate', '429'], seed: 5, slowMs: 0, retryAfterSeconds: 0 });
    const run = startCli(
      ['export', '--input', input, '--output', join(dir, 'out.jsonl'), '--api-url', emu.url, '--rec-id', 'homepage', '--secret-key-file', keyFile, '--log-level', 'trace', '--rate-limit', '100', '--rate-interval', '1', '--max-retries', '1'],
      { env: { AMPLITUDE_SECRET_KEY: undefined } },
    );
    // The key changes mid-run (a 401 from then on): once some requests, retries among them, were answered.
    while (run.child.exitCode === null && emu.stats().requests < 60) await new Promise((r) => setTimeout(r, 20));
    emu.setSecretKey('another-key-entirely');
    const r = await run.done;
    emu.setFaults(null);
    emu.setSecretKey(KEY);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/"level":10|"level":20/); // trace/debug lines were written
    expect(r.stderr).toMatch(/retrying/);
    const all = everything(r.stdout, r.stderr).replaceAll(KEY, '');
    // The key file itself is in the directory: count occurrences outside it.
    const leaks = everything(r.stdout, r.stderr).split(KEY).length - 1;
    expect(leaks).toBe(1);
    expect(all).not.toContain(KEY);
  });

  it('is scrubbed even from an error message that would carry it (the key used as a file path)', async () => {
    const r = await runCli(['export', '--input', fixture('users.csv'), '--output', join(dir, 'x.csv'), '--api-url', emu.url, '--secret-key-file', `/nonexistent/${KEY}`], { env: { AMPLITUDE_SECRET_KEY: KEY } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read --secret-key-file \/nonexistent\/\[REDACTED\]/);
    expect(r.stderr).not.toContain(KEY);
  });

  it('warns when the key file is readable by others', async () => {
    const keyFile = join(dir, 'open-key');
    writeFileSync(keyFile, KEY);
    chmodSync(keyFile, 0o644);
    const r = await runCli(['export', '--input', fixture('users.csv'), '--output', join(dir, 'w.csv'), '--api-url', emu.url, '--secret-key-file', keyFile, '--rate-limit', '0'], {
      env: { AMPLITUDE_SECRET_KEY: undefined },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/readable by others \(mode 644\); chmod 600 it/);
    expect(r.stderr).not.toContain(KEY);
  });
});

describe('--escape-formulas', () => {
  it('neutralises cells starting with = + - @ only when asked; ids stay unchanged by default', async () => {
    const input = join(dir, 'formula.csv');
    writeFileSync(input, 'user_id,device_id\n=cmd|calc,\n+1-555,\n@sum,\nplain,\n');
    const plain = join(dir, 'plain.csv');
    const escaped = join(dir, 'escaped.csv');
    const base = ['export', '--input', input, '--api-url', emu.url, '--rate-limit', '0'];
    expect((await runCli([...base, '--output', plain], { env: { AMPLITUDE_SECRET_KEY: KEY } })).code).toBe(0);
    expect((await runCli([...base, '--output', escaped, '--escape-formulas'], { env: { AMPLITUDE_SECRET_KEY: KEY } })).code).toBe(0);
    const p = readFileSync(plain, 'utf8').split('\n');
    const e = readFileSync(escaped, 'utf8').split('\n');
    expect(p.slice(1, 5)).toEqual(['=cmd|calc,,ok', '+1-555,,ok', '@sum,,ok', 'plain,,ok']);
    expect(e.slice(1, 5)).toEqual(["'=cmd|calc,,ok", "'+1-555,,ok", "'@sum,,ok", 'plain,,ok']);
  });
});
