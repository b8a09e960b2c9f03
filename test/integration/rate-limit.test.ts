import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxInWindow } from '../../src/emulator/throttle.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';

// The emulator throttles with a sliding window exactly like the limit we configure: any request
// over it would be answered 429 and counted. Counts, not timings, are asserted.
const LIMIT = 20;
const INTERVAL_S = 1;
// Concurrent: each test has its own emulator; they spend their time waiting on the rate limit.
describe('the rate limit at the server (emulator throttling at the same limit)', { concurrent: true }, () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await fixtureEmulator({ synthetic: true, rateLimit: LIMIT, rateIntervalMs: INTERVAL_S * 1000 });
  });
  afterAll(async () => emu.close());

  it(`never puts more than ${LIMIT} requests in any ${INTERVAL_S} s window at the server, and gets no 429`, async () => {
    const dir = tempDir();
    const input = join(dir, 'users.csv');
    const users = 90;
    writeFileSync(input, syntheticUsers(users));
    const out = join(dir, 'out.jsonl');
    const r = await runCli(['export', '--input', input, '--output', out, '--api-url', emu.url, '--rec-id', 'homepage', '--rate-limit', String(LIMIT), '--rate-interval', String(INTERVAL_S), '--concurrency', '8']);
    expect(r.code).toBe(0);
    const s = emu.stats();
    expect(s.requests).toBe(users);
    expect(s.byStatus['429'] ?? 0).toBe(0);
    expect(maxInWindow(s.arrivals!, INTERVAL_S * 1000)).toBeLessThanOrEqual(LIMIT);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(users);
    // The summary's achieved rate never reads above the limit it kept.
    const summary = r.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; requestsPerSecond: number }).at(-1)!;
    expect(summary.msg).toBe('export finished');
    expect(summary.requestsPerSecond).toBeLessThanOrEqual(LIMIT / INTERVAL_S);
    expect(summary.requestsPerSecond).toBeGreaterThan(0);
  });

  it('the first request on each new connection arrives 150 ms late (a TLS or proxy handshake): still no window over the limit at the server', async () => {
    const slow = await fixtureEmulator({ synthetic: true, rateLimit: LIMIT, rateIntervalMs: INTERVAL_S * 1000, handshakeMs: 150 });
    try {
      const dir = tempDir();
      const input = join(dir, 'users.csv');
      const users = 60;
      writeFileSync(input, syntheticUsers(users));
      const out = join(dir, 'out.csv');
      const r = await runCli(['export', '--input', input, '--output', out, '--api-url', slow.url, '--rec-id', 'homepage', '--rate-limit', String(LIMIT), '--rate-interval', String(INTERVAL_S), '--concurrency', '8']);
      expect(r.code, r.stderr.slice(-600)).toBe(0);
      const s = slow.stats();
      expect(s.byStatus['429'] ?? 0).toBe(0);
      expect(s.requests).toBe(users);
      expect(maxInWindow(s.arrivals!, INTERVAL_S * 1000)).toBeLessThanOrEqual(LIMIT);
    } finally {
      await slow.close();
    }
  });
});
