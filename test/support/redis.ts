import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A real redis-server on a free loopback port. Without the binary the Redis tests are skipped
 * with a loud message, unless REQUIRE_REDIS=1 (set by .ci/run), where that is a failure.
 */
export const redisBinary = spawnSync('redis-server', ['--version']).status === 0;
export const redisRequired = process.env.REQUIRE_REDIS === '1';

export function redisSkipReason(): string | undefined {
  if (redisBinary) return undefined;
  if (redisRequired) throw new Error('REQUIRE_REDIS=1 but redis-server is not installed (apt-get install -y redis-server)');
  const msg = '\n*** SKIPPED: Redis tests need redis-server (apt-get install -y redis-server); CI runs them with REQUIRE_REDIS=1 ***\n';
  process.stderr.write(msg);
  return msg;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface RunningRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(port?: number): Promise<RunningRedis> {
  const p = port ?? (await freePort());
  const child: ChildProcess = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
