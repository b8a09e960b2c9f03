import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

// 50 requests a second: 200 users last ~4 s, long enough to send signals mid-run.
const FLAGS = ['--rec-id', 'homepage', '--rate-limit', '50', '--rate-interval', '1', '--no-progress'];
const USERS = 200;

let emu: RunningEmulator;
let dir: string;
let input: string;
let reference: string;
beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  dir = tempDir();
  input = join(dir, 'users.csv');
  writeFileSync(input, syntheticUsers(USERS));
  const out = join(dir, 'reference.csv');
  const r = await runCli(['export', '--input', input, '--output', out, '--api-url', emu.url, ...FLAGS, '--rate-limit', '0']);
  expect(r.code, r.stderr).toBe(0);
  reference = readFileSync(out, 'utf8');
});
afterAll(async () => emu.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const args = (out: string) => ['export', '--input', input, '--output', out, '--api-url', emu.url, ...FLAGS];

async function untilRequests(n: number): Promise<void> {
  for (let i = 0; i < 200 && emu.stats().requests < n; i++) await sleep(25);
}

/** Whether anything accepts connections on Node's default inspector port. */
function inspectorOpen(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: 9229 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('signals an operator or the machine sends', () => {
  it('SIGUSR1 and SIGUSR2 are logged and ignored (no inspector opens); SIGHUP stops gracefully with exit 129, and the rerun completes identically', async () => {
    emu.resetStats();
    const out = join(dir, 'hup.csv');
    const run = startCli(args(out));
    await untilRequests(20);
    expect(await inspectorOpen()).toBe(false);
    run.child.kill('SIGUSR1');
    run.child.kill('SIGUSR2');
    await sleep(500);
    expect(await inspectorOpen()).toBe(false);
    const before = emu.stats().requests;
    await sleep(300);
    expect(emu.stats().requests, 'the run goes on after SIGUSR1/SIGUSR2').toBeGreaterThan(before);
    run.child.kill('SIGHUP');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(129);
    expect(r.stderr).not.toMatch(/Debugger|inspector/i);
    // Every stderr line is JSON: nothing else in the log a collector parses.
    for (const line of r.stderr.split('\n').filter(Boolean)) expect(line.startsWith('{'), line).toBe(true);
    const logs = logLines(r.stderr);
    expect(logs.filter((l) => String(l.msg).includes('signal ignored')).map((l) => l.signal).sort()).toEqual(['SIGUSR1', 'SIGUSR2']);
    expect(logs.some((l) => l.signal === 'SIGHUP' && String(l.msg).includes('stopping'))).toBe(true);
    expect(logs.some((l) => l.exitCode === 129), 'the summary line says 129').toBe(true);
    const cp = JSON.parse(readFileSync(`${out}.checkpoint.json`, 'utf8'));
    expect(cp.done).toBe(false);
    expect(cp.counts.users).toBeGreaterThan(0);
    expect(cp.counts.users).toBeLessThan(USERS);

    const again = await runCli(args(out));
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
    expect(existsSync(`${out}.errors.csv`)).toBe(false);
  });
});
