import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { maxInWindow } from '../../src/emulator/throttle.js';
import { runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

/**
 * The wall clock stepped by an hour mid-run (an NTP step, a VM restore), the monotonic clock
 * untouched: libfaketime in the export's process, the emulator here on the real clock.
 * Before, Bottleneck planned starts on Date.now(): a step back froze the run and it then
 * ignored SIGTERM until SIGKILL.
 */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const available = existsSync(LIBFAKETIME);
if (!available && (process.env.CI || process.env.REQUIRE_FAKETIME)) throw new Error(`${LIBFAKETIME} is missing: .ci/run installs the faketime package`);
if (!available) console.warn(`\n*** SKIPPED: clock-step tests (${LIBFAKETIME} missing; apt-get install faketime) ***\n`);

const RATE = 40;
const USERS = 100;
const FLAGS = ['--rec-id', 'homepage', '--rate-limit', String(RATE), '--rate-interval', '1', '--no-progress', '--grace', '2'];

// Concurrent: each test has its own emulator; they spend their time waiting on the rate limit.
describe.skipIf(!available)('a wall clock stepped an hour mid-run (libfaketime)', { concurrent: true }, () => {
  let dir: string;
  let input: string;
  let reference: string;
  const emulators: RunningEmulator[] = [];
  beforeAll(async () => {
    const emu = await fixtureEmulator({ synthetic: true });
    emulators.push(emu);
    dir = tempDir();
    input = join(dir, 'users.csv');
    writeFileSync(input, syntheticUsers(USERS));
    const r = await runCli(['export', '--input', input, '--output', join(dir, 'reference.csv'), '--api-url', emu.url, ...FLAGS, '--rate-limit', '0']);
    expect(r.code, r.stderr).toBe(0);
    reference = readFileSync(join(dir, 'reference.csv'), 'utf8');
  });
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });
  const emulator = async () => {
    const emu = await fixtureEmulator({ synthetic: true });
    emulators.push(emu);
    return emu;
  };

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function untilRequests(emu: RunningEmulator, n: number): Promise<void> {
    for (let i = 0; i < 400 && emu.stats().requests < n; i++) await sleep(25);
  }

  /** The export under libfaketime; `step(offset)` sets the wall clock's offset ("-3600", "+0"). */
  function fakedRun(emu: RunningEmulator, out: string) {
    const clock = join(dir, `${Math.random().toString(36).slice(2)}.faketime`);
    writeFileSync(clock, '+0\n');
    const run = startCli(['export', '--input', input, '--output', out, '--api-url', emu.url, ...FLAGS], {
      env: { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clock, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' },
    });
    return { run, step: (offset: string) => writeFileSync(clock, `${offset}\n`) };
  }

  for (const [name, offset] of [['back', '-3600'], ['forward', '+3600']] as const) {
    it(`stepped ${name} and set right again: the run completes at the configured rate, byte-identical`, async () => {
      const emu = await emulator();
      const out = join(dir, `${name}.csv`);
      const { run, step } = fakedRun(emu, out);
      await untilRequests(emu, 20);
      step(offset);
      await untilRequests(emu, 50);
      step('+0');
      const r = await run.done;
      expect(r.code, r.stderr.slice(-600)).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe(reference);
      const s = emu.stats();
      expect(s.requests).toBe(USERS);
      expect(maxInWindow(s.arrivals!, 1000)).toBeLessThanOrEqual(RATE);
    });
  }

  it('SIGTERM while the clock is stepped back: exit 143 with a checkpoint, within --grace; the rerun completes identically', async () => {
    const emu = await emulator();
    const out = join(dir, 'term.csv');
    const { run, step } = fakedRun(emu, out);
    await untilRequests(emu, 20);
    step('-3600');
    await sleep(500);
    run.child.kill('SIGTERM');
    // A hang detector, not a timing assertion: before, the process ignored SIGTERM until SIGKILL.
    const hung = sleep(20_000).then(() => 'hung' as const);
    const r = await Promise.race([run.done, hung]);
    if (r === 'hung') run.child.kill('SIGKILL');
    expect(r).not.toBe('hung');
    if (r === 'hung') return;
    expect(r.code, r.stderr.slice(-600)).toBe(143);
    const cp = JSON.parse(readFileSync(`${out}.checkpoint.json`, 'utf8'));
    expect(cp.done).toBe(false);
    const again = await runCli(['export', '--input', input, '--output', out, '--api-url', emu.url, ...FLAGS]);
    expect(again.code, again.stderr.slice(-600)).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(reference);
  });
});
