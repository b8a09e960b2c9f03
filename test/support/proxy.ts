import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './cli.js';
import { freePort } from './redis.js';

/**
 * Real forward proxies on loopback. tinyproxy (Debian's package) is the proxy a company runs;
 * without the binary its tests are skipped loudly, unless REQUIRE_TINYPROXY=1 or CI=true.
 * `startConnectProxy` is a small CONNECT proxy in the test itself that counts tunnels per target
 * and can demand credentials (407).
 */
export const tinyproxyBinary = spawnSync('tinyproxy', ['-v']).status === 0;
export const tinyproxyRequired = process.env.REQUIRE_TINYPROXY === '1' || process.env.CI === 'true';

export function tinyproxySkipReason(): string | undefined {
  if (tinyproxyBinary) return undefined;
  if (tinyproxyRequired) throw new Error('tinyproxy is required here (REQUIRE_TINYPROXY=1 or CI=true) but not installed (apt-get install -y tinyproxy)');
  const msg = '\n*** SKIPPED: proxy tests need tinyproxy (apt-get install -y tinyproxy); CI runs them ***\n';
  process.stderr.write(msg);
  return msg;
}

export interface RunningProxy {
  port: number;
  /** http://[user:password@]127.0.0.1:port */
  url: string;
  /** CONNECT tunnels opened so far, one entry per tunnel: `host:port`. */
  tunnels(): string[];
  stop(): Promise<void>;
}

/** tinyproxy on a free loopback port with a generated config; `auth` turns on BasicAuth. */
export async function startTinyproxy(auth?: { user: string; password: string }): Promise<RunningProxy> {
  const dir = tempDir('ape-tinyproxy-');
  const port = await freePort();
  const log = join(dir, 'tinyproxy.log');
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      `LogFile "${log}"`,
      // Connect level logs every request line: the CONNECTs are counted from it.
      'LogLevel Connect',
      'MaxClients 200',
      ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : []),
    ].join('\n') + '\n',
  );
  const child: ChildProcess = spawn('tinyproxy', ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(port, () => child.exitCode !== null && new Error(`tinyproxy exited ${child.exitCode}: ${stderr}`));
  const credentials = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : '';
  return {
    port,
    url: `http://${credentials}127.0.0.1:${port}`,
    tunnels() {
      let text = '';
      try {
        text = readFileSync(log, 'utf8');
      } catch {
        return [];
      }
      return [...text.matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]!);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

async function waitForPort(port: number, failed: () => Error | false): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const err = failed();
    if (err) throw err;
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/**
 * A CONNECT proxy in the test: counts tunnels; with `auth` ("user:password") it answers 407 to a
 * missing or wrong Proxy-Authorization. Plain requests (not CONNECT) get 405.
 */
export async function startConnectProxy(auth?: string): Promise<RunningProxy & { refused(): number }> {
  const opened: string[] = [];
  let refused = 0;
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(405).end();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const expected = auth ? `Basic ${Buffer.from(auth).toString('base64')}` : undefined;
    if (expected && req.headers['proxy-authorization'] !== expected) {
      refused++;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const target = req.url ?? '';
    opened.push(target);
    const colon = target.lastIndexOf(':');
    const upstream = connect(Number(target.slice(colon + 1)), target.slice(0, colon).replace(/^\[|\]$/g, ''));
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const credentials = auth ? `${auth.split(':').map(encodeURIComponent).join(':')}@` : '';
  return {
    port,
    url: `http://${credentials}127.0.0.1:${port}`,
    tunnels: () => [...opened],
    refused: () => refused,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
