/**
 * The `shared` suite (the README's benchmark table): 1, 2 and 3 export processes sharing one Redis
 * limiter of 20 requests per 2 s against an emulator that throttles at the same limit.
 * Reports the combined requests per second and the most requests the emulator saw in any 2 s
 * window. Needs redis-server on the PATH (skipped otherwise, with a row saying so).
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadProfiles } from '../src/emulator/profiles.js';
import { startEmulator } from '../src/emulator/server.js';
import { maxInWindow } from '../src/emulator/throttle.js';
import { stopChild, track } from './children.js';

export interface SharedFigure {
  processes: number;
  requests: number;
  requestsPerSecond: number;
  maxInWindow: number;
  throttled: number;
}

const LIMIT = 20;
const INTERVAL_S = 2;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export function hasRedis(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

export async function sharedSuite(cli: string, dir: string, usersPerRun = 120): Promise<SharedFigure[]> {
  const redis = await startRedis();
  const figures: SharedFigure[] = [];
  try {
    const input = join(dir, 'shared-users.csv');
    writeFileSync(input, ['user_id,device_id', ...Array.from({ length: usersPerRun }, (_, i) => `shared-${i},`)].join('\n') + '\n');
    for (const n of [1, 2, 3]) {
      const emu = await startEmulator({ profiles: await loadProfiles(new URL('../fixtures/profiles.json', import.meta.url)), synthetic: true, secretKey: 'demo-secret-key', rateLimit: LIMIT, rateIntervalMs: INTERVAL_S * 1000, record: true });
      try {
        const runs = Array.from({ length: n }, (_, i) =>
          new Promise<number | null>((resolve) => {
            const c = spawn(process.execPath, [cli, 'export', '--input', input, '--output', join(dir, `shared-${n}-{shard}.csv`), '--api-url', emu.url, '--rate-limit', String(LIMIT), '--rate-interval', String(INTERVAL_S), '--shard', `${i}/${n}`, '--redis-url', redis.url, '--limiter-id', `bench-${n}`, '--fresh', '--no-progress', '--log-level', 'warn'], { env: { ...process.env, AMPLITUDE_SECRET_KEY: 'demo-secret-key' }, stdio: 'ignore' });
            c.on('close', resolve);
          }),
        );
        await Promise.all(runs);
        const s = emu.stats();
        const a = s.arrivals ?? [];
        const span = (a.at(-1)! - a[0]!) / 1000;
        figures.push({ processes: n, requests: s.requests, requestsPerSecond: span > 0 ? (a.length - 1) / span : 0, maxInWindow: maxInWindow(a, INTERVAL_S * 1000), throttled: s.byStatus['429'] ?? 0 });
      } finally {
        await emu.close();
      }
    }
  } finally {
    await redis.stop();
  }
  return figures;
}

/** redis-server on a free port without persistence, tracked (an interrupted bench stops it). */
export async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = track(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('redis-server did not get ready within 5 s'));
    }, 5000);
    child.stdout!.setEncoding('utf8');
    const onData = (chunk: string) => {
      out += chunk;
      if (!out.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData).resume(); // drained from here on, not kept
      resolve();
    };
    child.stdout!.on('data', onData);
    exited.then((e) => reject(new Error(`redis-server exited (code ${e.code}, signal ${e.signal}): ${out.slice(-400)}`)), reject);
  });
  return { url: `redis://127.0.0.1:${port}`, stop: async () => void (await stopChild(child, exited)) };
}

