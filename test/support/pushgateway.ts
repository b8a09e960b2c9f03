import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cli.js';
import { freePort } from './redis.js';

/**
 * A real prometheus-pushgateway on a free loopback port, nothing persisted. Without the binary
 * the Pushgateway tests are skipped with a loud message, unless CI=true or
 * REQUIRE_PUSHGATEWAY=1 (set by .ci/run), where that is a failure.
 */
export const PUSHGATEWAY_BIN = process.env.PUSHGATEWAY_BIN ?? 'prometheus-pushgateway';
export const pushgatewayBinary = spawnSync(PUSHGATEWAY_BIN, ['--version']).status === 0;
export const pushgatewayRequired = process.env.REQUIRE_PUSHGATEWAY === '1' || process.env.CI === 'true';

export function pushgatewaySkipReason(): string | undefined {
  if (pushgatewayBinary) return undefined;
  if (pushgatewayRequired) throw new Error(`REQUIRE_PUSHGATEWAY=1 or CI=true but ${PUSHGATEWAY_BIN} is not installed (apt-get install -y prometheus-pushgateway)`);
  const msg = `\n*** SKIPPED: Pushgateway tests need ${PUSHGATEWAY_BIN} (apt-get install -y prometheus-pushgateway); CI runs them with REQUIRE_PUSHGATEWAY=1 ***\n`;
  process.stderr.write(msg);
  return msg;
}

export interface RunningPushgateway {
  url: string;
  child: ChildProcess;
  /** The Pushgateway's own /metrics: everything pushed to it, with job and grouping labels. */
  scrape(): Promise<string>;
  stop(): Promise<void>;
}

export interface PushgatewayOptions {
  /** Basic auth required on every request (its --web.config.file): the user and a bcrypt hash of the password. */
  basicAuth?: { user: string; password: string; bcrypt: string };
}

export async function startPushgateway(o: PushgatewayOptions = {}): Promise<RunningPushgateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // No --persistence.file: pushed metrics live in memory only, and go with the process.
  const args = [`--web.listen-address=127.0.0.1:${port}`];
  const headers: Record<string, string> = {};
  if (o.basicAuth) {
    const config = join(tempDir('ape-pushgateway-'), 'web.yml');
    writeFileSync(config, `basic_auth_users:\n  ${o.basicAuth.user}: ${JSON.stringify(o.basicAuth.bcrypt)}\n`);
    args.push(`--web.config.file=${config}`);
    headers.authorization = `Basic ${Buffer.from(`${o.basicAuth.user}:${o.basicAuth.password}`).toString('base64')}`;
  }
  const child = spawn(PUSHGATEWAY_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${PUSHGATEWAY_BIN} exited ${code}: ${log}`))));
  exited.catch(() => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ready = await Promise.race([fetch(`${url}/-/ready`, { headers }).then((r) => r.ok, () => false), exited]);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`${PUSHGATEWAY_BIN} did not get ready: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    scrape: async () => (await fetch(`${url}/metrics`, { headers })).text(),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Sample lines of a Prometheus exposition whose metric name starts with `prefix`: `name{labels}` -> value, labels sorted. */
export function samples(text: string, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = (m[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? [];
    out.set(`${m[1]}{${labels.sort().join(',')}}`, Number(m[3]));
  }
  return out;
}
