import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxInWindow } from '../../src/emulator/throttle.js';
import { fnv1a32 } from '../../src/hash.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { runCli, startCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';
import { freePort, type RunningRedis, redisSkipReason, startRedis } from '../support/redis.js';

const skip = redisSkipReason();
const LIMIT = 20;
const INTERVAL_S = 1;

// Concurrent: each test has its own emulator and limiter id; they spend their time waiting on rate windows.
describe.skipIf(skip !== undefined)('a rate limit shared through Redis (real redis-server)', { concurrent: true }, () => {
  let redis: RunningRedis;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    dir = tempDir();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const exportArgs = (emu: RunningEmulator, input: string, out: string, extra: string[]) => [
    'export', '--input', input, '--output', out, '--api-url', emu.url, '--rec-id', 'homepage',
    '--rate-limit', String(LIMIT), '--rate-interval', String(INTERVAL_S), '--concurrency', '8', ...extra,
  ];

  it('three shard processes: no 429, no window over the limit at the server, every user exactly once', async () => {
    const emu = await fixtureEmulator({ synthetic: true, rateLimit: LIMIT, rateIntervalMs: INTERVAL_S * 1000 });
    try {
      // Four windows' worth at 20 a second: the timed tier's longest test, so no longer than that.
      const users = 80;
      const input = join(dir, 'users.csv');
      writeFileSync(input, syntheticUsers(users));
      const runs = [0, 1, 2].map((i) =>
        startCli(exportArgs(emu, input, join(dir, 'shard-{shard}.csv'), ['--shard', `${i}/3`, '--redis-url', redis.url, '--limiter-id', 'three'])).done,
      );
      const results = await Promise.all(runs);
      for (const r of results) expect(r.code, r.stderr.slice(-800)).toBe(0);
      const s = emu.stats();
      expect(s.byStatus['429'] ?? 0).toBe(0);
      expect(maxInWindow(s.arrivals!, INTERVAL_S * 1000)).toBeLessThanOrEqual(LIMIT);
      const seen = [0, 1, 2].flatMap((i) => readFileSync(join(dir, `shard-${i}.csv`), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]));
      expect(seen).toHaveLength(users);
      expect(new Set(seen).size).toBe(users);
      // Each shard got a fair part of the users (FNV-1a spreads them).
      for (const i of [0, 1, 2]) expect(readFileSync(join(dir, `shard-${i}.csv`), 'utf8').trim().split('\n').length - 1).toBeGreaterThan(users / 6);
    } finally {
      await emu.close();
    }
  });

  it('a process frozen while holding granted starts (SIGSTOP, as a throttled container is) does not send them late: no window over the limit', async () => {
    const emu = await fixtureEmulator({ synthetic: true, rateLimit: LIMIT, rateIntervalMs: INTERVAL_S * 1000 });
    try {
      const users = 70;
      const input = join(dir, 'frozen.csv');
      writeFileSync(input, syntheticUsers(users));
      const runs = [0, 1].map((i) => startCli(exportArgs(emu, input, join(dir, 'frozen-{shard}.csv'), ['--shard', `${i}/2`, '--redis-url', redis.url, '--limiter-id', 'frozen', '--log-level', 'info'])));
      while (emu.stats().requests < 8) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 3; i++) {
        runs[0]!.child.kill('SIGSTOP');
        await new Promise((r) => setTimeout(r, 400));
        runs[0]!.child.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 600));
      }
      const results = await Promise.all(runs.map((r) => r.done));
      for (const r of results) expect(r.code, r.stderr.slice(-800)).toBe(0);
      const s = emu.stats();
      expect(s.requests).toBe(users);
      expect(s.byStatus['429'] ?? 0).toBe(0);
      expect(maxInWindow(s.arrivals!, INTERVAL_S * 1000)).toBeLessThanOrEqual(LIMIT);
      expect(results[0]!.stderr).toMatch(/"droppedStarts":[1-9]/);
    } finally {
      await emu.close();
    }
  });

  it('the first request on each new connection arrives 150 ms late (a TLS or proxy handshake): three processes still keep every window at the server', async () => {
    const emu = await fixtureEmulator({ synthetic: true, rateLimit: LIMIT, rateIntervalMs: INTERVAL_S * 1000, handshakeMs: 150 });
    try {
      const users = 60;
      const input = join(dir, 'handshake.csv');
      writeFileSync(input, syntheticUsers(users));
      const runs = [0, 1, 2].map((i) => startCli(exportArgs(emu, input, join(dir, 'handshake-{shard}.csv'), ['--shard', `${i}/3`, '--redis-url', redis.url, '--limiter-id', 'handshake'])).done);
      const results = await Promise.all(runs);
      for (const r of results) expect(r.code, r.stderr.slice(-800)).toBe(0);
      const s = emu.stats();
      expect(s.byStatus['429'] ?? 0).toBe(0);
      expect(s.requests).toBe(users);
      expect(maxInWindow(s.arrivals!, INTERVAL_S * 1000)).toBeLessThanOrEqual(LIMIT);
    } finally {
      await emu.close();
    }
  });

  it('Redis unreachable at start: exit 2 naming it, no request, no private fallback', async () => {
    const emu = await fixtureEmulator({ synthetic: true });
    try {
      const input = join(dir, 'few.csv');
      writeFileSync(input, syntheticUsers(5));
      const port = await freePort();
      const r = await runCli(exportArgs(emu, input, join(dir, 'noredis.csv'), ['--redis-url', `redis://:hunter2@127.0.0.1:${port}`]));
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`--redis-url redis://\\*\\*\\*@127.0.0.1:${port}/?: cannot connect \\(ECONNREFUSED\\)`));
      expect(r.stderr).not.toContain('hunter2');
      expect(emu.stats().requests).toBe(0);
    } finally {
      await emu.close();
    }
  });

  it('Redis restarted mid-run (its window lost): the runs finish with no window over the limit', async () => {
    const emu = await fixtureEmulator({ synthetic: true, rateLimit: LIMIT, rateIntervalMs: INTERVAL_S * 1000 });
    const own = await startRedis();
    try {
      const users = 70;
      const input = join(dir, 'restart.csv');
      writeFileSync(input, syntheticUsers(users));
      const runs = [0, 1].map((i) => startCli(exportArgs(emu, input, join(dir, 'restart-{shard}.csv'), ['--shard', `${i}/2`, '--redis-url', own.url, '--limiter-id', 'restart'])).done);
      // Stopped once both are sending (a fixed wait is too short for a cold start on a busy machine).
      const sending = (shard: number) => Object.keys(emu.stats().perId ?? {}).some((id) => fnv1a32(id) % 2 === shard);
      while (!sending(0) || !sending(1)) await new Promise((r) => setTimeout(r, 50));
      await own.stop();
      await new Promise((r) => setTimeout(r, 500));
      const again = await startRedis(own.port);
      const results = await Promise.all(runs);
      await again.stop();
      for (const r of results) {
        expect(r.code, r.stderr.slice(-800)).toBe(0);
        expect(r.stderr).toMatch(/Redis connection lost/);
      }
      const s = emu.stats();
      expect(s.requests).toBe(users);
      expect(s.byStatus['429'] ?? 0).toBe(0);
      expect(maxInWindow(s.arrivals!, INTERVAL_S * 1000)).toBeLessThanOrEqual(LIMIT);
    } finally {
      await own.stop();
      await emu.close();
    }
  });
});
