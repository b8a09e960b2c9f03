import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { logLines, runCli, tempDir } from '../support/cli.js';
import { fixtureEmulator, syntheticUsers } from '../support/emulator.js';
import { type RunningProxy, startConnectProxy, startTinyproxy, tinyproxySkipReason } from '../support/proxy.js';
import { freePort } from '../support/redis.js';
import { type LocalS3, startS3 } from '../support/s3.js';
import { makeTestCa, type TestCa } from '../support/tls.js';

/**
 * The export behind an egress proxy, as in a company network: the Profile API (the emulator
 * behind TLS, its certificate from a private CA trusted through NODE_EXTRA_CA_CERTS) and S3
 * (fauxqs) both reached through a real tinyproxy on loopback that demands a password.
 */
const skip = tinyproxySkipReason();
const PASSWORD = 'Pr0xy-LEAK-9c41e7';
const USERS = 300;
const CONCURRENCY = 4;
const NO_PROXY_VARS = { NO_PROXY: undefined, no_proxy: undefined, HTTP_PROXY: undefined, HTTPS_PROXY: undefined, http_proxy: undefined, https_proxy: undefined, ALL_PROXY: undefined, all_proxy: undefined };

let ca: TestCa;
let emu: RunningEmulator;
let s3: LocalS3;
let proxy: RunningProxy;
let dir: string;
let users: string;

beforeAll(async () => {
  if (skip) return;
  ca = makeTestCa();
  emu = await fixtureEmulator({ synthetic: true, tls: { cert: ca.cert, key: ca.key } });
  s3 = await startS3('in', 'out');
  proxy = await startTinyproxy({ user: 'svc-export', password: PASSWORD });
  dir = tempDir('ape-proxy-');
  users = join(dir, 'users.csv');
  writeFileSync(users, syntheticUsers(USERS));
  await s3.put('in', 'users.csv', syntheticUsers(USERS));
});
afterAll(async () => {
  await emu?.close();
  await s3?.stop();
  await proxy?.stop();
});

const emuTarget = () => new URL(emu.url).host;
const s3Target = () => new URL(s3.endpoint).host;
const exportArgs = (extra: string[]) => ['export', '--api-url', emu.url, '--rec-id', 'homepage', '--rate-limit', '0', '--concurrency', String(CONCURRENCY), ...extra];
const run = (args: string[], env: Record<string, string | undefined>) => runCli(args, { env: { ...s3.env, ...NO_PROXY_VARS, NODE_EXTRA_CA_CERTS: ca.caFile, ...env } });

/** Every byte a run left behind: stdout, stderr, every file in the test directory and every object on S3. */
async function everything(stdout: string, stderr: string): Promise<string> {
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'latin1'));
  const objects = await Promise.all((await s3.keys('out')).map(async (k) => (await s3.get('out', k))?.toString('latin1') ?? ''));
  return [stdout, stderr, ...files, ...objects].join('\n');
}

/** The stderr of a run that failed before it started: exactly one line, no stack. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

describe.skipIf(skip)('behind an egress proxy (tinyproxy with a password)', () => {
  it('sends the Profile API and S3 (input, output, checkpoint, errors) through the proxy, keep-alive, credentials in no byte written', async () => {
    emu.resetStats();
    const before = proxy.tunnels().length;
    // Upper-case HTTPS_PROXY for the https API; lower-case http_proxy for the http S3 endpoint
    // (curl ignores upper-case HTTP_PROXY).
    const r = await run(exportArgs(['--input', 's3://in/users.csv', '--output', 's3://out/users.csv', '--s3-path-style', '--log-level', 'trace', '--summary', join(dir, 'summary.json')]), {
      HTTPS_PROXY: proxy.url,
      http_proxy: proxy.url,
    });
    expect(r.code, r.stderr).toBe(0);
    const out = (await s3.get('out', 'users.csv'))!.toString('utf8').trim().split('\n');
    expect(out).toHaveLength(USERS + 1);
    expect(emu.stats().requests).toBe(USERS);

    const tunnels = proxy.tunnels().slice(before);
    const toApi = tunnels.filter((t) => t === emuTarget()).length;
    const toS3 = tunnels.filter((t) => t === s3Target()).length;
    // 300 API requests over at most one tunnel per connection, plus the preflight's.
    expect(toApi).toBeGreaterThanOrEqual(2);
    expect(toApi).toBeLessThanOrEqual(CONCURRENCY + 1);
    expect(toS3).toBeGreaterThanOrEqual(1);
    expect(tunnels.length).toBe(toApi + toS3);
    process.stderr.write(`proxy tunnels: ${toApi} to the API for ${USERS} requests, ${toS3} to S3\n`);

    const logs = logLines(r.stderr);
    expect(logs.some((l) => l.level === 10 || l.level === 20)).toBe(true);
    expect(logs.find((l) => l.msg === 'Profile API through the proxy')).toMatchObject({ proxy: `http://[REDACTED]@127.0.0.1:${proxy.port}`, from: 'HTTPS_PROXY' });
    const all = await everything(r.stdout, r.stderr);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(encodeURIComponent(PASSWORD));
    expect(all).not.toContain(Buffer.from(`svc-export:${PASSWORD}`).toString('base64'));
  });

  it('NO_PROXY (a host, or *) connects directly: the proxy sees no tunnel; NODE_EXTRA_CA_CERTS still trusted', async () => {
    for (const noProxy of ['127.0.0.1', '*']) {
      const before = proxy.tunnels().length;
      const output = join(dir, `direct-${noProxy === '*' ? 'all' : 'host'}.csv`);
      const r = await run(exportArgs(['--input', users, '--output', output]), { https_proxy: proxy.url, http_proxy: proxy.url, no_proxy: noProxy });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(output, 'utf8').trim().split('\n')).toHaveLength(USERS + 1);
      expect(proxy.tunnels().length - before).toBe(0);
    }
  });

  it('without NODE_EXTRA_CA_CERTS the private CA is not trusted: exit 2, one line naming it, no user failed', async () => {
    const output = join(dir, 'untrusted.csv');
    const r = await run(exportArgs(['--input', users, '--output', output]), { https_proxy: proxy.url, NODE_EXTRA_CA_CERTS: undefined });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n'))).toMatch(/^amp-profile-export: the certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \([A-Z_]+\): .*NODE_EXTRA_CA_CERTS/);
    const errors = existsSync(`${output}.errors.csv`) ? readFileSync(`${output}.errors.csv`, 'utf8').trim().split('\n') : [];
    expect(errors.length).toBeLessThanOrEqual(1); // a header at most: no user was marked failed
  });

  it('a wrong proxy password is one line and exit 2 before any request or file', async () => {
    emu.resetStats();
    const output = join(dir, 'refused.csv');
    const wrong = proxy.url.replace(encodeURIComponent(PASSWORD), 'not-the-Pr0xy-pw');
    const r = await run(exportArgs(['--input', users, '--output', output, '--log-level', 'trace']), { https_proxy: wrong });
    expect(r.code).toBe(2);
    // tinyproxy answers a CONNECT without the right credentials with 401.
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^amp-profile-export: the proxy http://\\[REDACTED\\]@127\\.0\\.0\\.1:${proxy.port} \\(from https_proxy\\) answered 40[17] to a tunnel to ${emuTarget()}: check the user and password in https_proxy$`));
    expect(r.stderr).not.toContain('not-the-Pr0xy-pw');
    expect(emu.stats().requests).toBe(0);
    expect(existsSync(output)).toBe(false);
    expect(existsSync(`${output}.errors.csv`)).toBe(false);
  });
});

describe.skipIf(skip)('a proxy that cannot reach the API', () => {
  it('a 5xx answer to the tunnel is an outage: exit 5, one line, rerun later', async () => {
    const closed = await freePort();
    const r = await run(['export', '--api-url', `https://127.0.0.1:${closed}`, '--input', users, '--output', join(dir, 'outage.csv')], { https_proxy: proxy.url });
    expect(r.code).toBe(5);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^amp-profile-export: the proxy http://\\[REDACTED\\]@127\\.0\\.0\\.1:${proxy.port} \\(from https_proxy\\) could not open a tunnel to 127\\.0\\.0\\.1:${closed} \\(5\\d\\d\\); rerun the same command when it can$`));
  });
});

describe.skipIf(skip)('a proxy that refuses (a CONNECT proxy in the test)', () => {
  it('407 to the Profile API tunnel: exit 2, one line, no request reached the API', async () => {
    const strict = await startConnectProxy('svc:right-pw');
    try {
      emu.resetStats();
      const output = join(dir, 'p407.csv');
      const r = await run(exportArgs(['--input', users, '--output', output]), { https_proxy: strict.url.replace('right-pw', 'wrong-pw') });
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/the proxy http:\/\/\[REDACTED\]@127\.0\.0\.1:\d+ \(from https_proxy\) answered 407 to a tunnel/);
      expect(strict.refused()).toBe(1);
      expect(emu.stats().requests).toBe(0);
      expect(existsSync(output)).toBe(false);
      expect(r.stderr).not.toContain('wrong-pw');
    } finally {
      await strict.stop();
    }
  });

  it('407 to the S3 tunnel only (NO_PROXY names the API host:port): exit 2 before any user', async () => {
    const strict = await startConnectProxy('svc:right-pw');
    try {
      emu.resetStats();
      const r = await run(exportArgs(['--input', 's3://in/users.csv', '--output', 's3://out/s3-407.csv', '--s3-path-style']), {
        http_proxy: strict.url.replace('right-pw', 'wrong-pw'),
        https_proxy: strict.url.replace('right-pw', 'wrong-pw'),
        NO_PROXY: emuTarget(),
      });
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toMatch(new RegExp(`the proxy http://\\[REDACTED\\]@127\\.0\\.0\\.1:${strict.port} \\(from http_proxy\\) answered 407 Proxy Authentication Required to a tunnel to ${s3Target()}`));
      expect(emu.stats().requests).toBe(0);
      expect(await s3.exists('out', 's3-407.csv')).toBe(false);
      expect(r.stderr).not.toContain('wrong-pw');
    } finally {
      await strict.stop();
    }
  });

  it('a proxy that is not there (connection refused): exit 2, one line', async () => {
    emu.resetStats();
    const port = await freePort();
    const output = join(dir, 'noproxy.csv');
    const r = await run(exportArgs(['--input', users, '--output', output]), { https_proxy: `http://svc:${PASSWORD}@127.0.0.1:${port}` });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(`amp-profile-export: cannot connect to the proxy http://[REDACTED]@127.0.0.1:${port} (from https_proxy): ECONNREFUSED; check https_proxy`);
    expect(emu.stats().requests).toBe(0);
    expect(existsSync(output)).toBe(false);
    // The dry run checks the same way.
    const dry = await run(exportArgs(['--input', users, '--output', output, '--dry-run']), { https_proxy: `http://127.0.0.1:${port}` });
    expect(dry.code).toBe(2);
    expect(oneLine(dry.stderr)).toBe(`amp-profile-export: cannot connect to the proxy http://127.0.0.1:${port} (from https_proxy): ECONNREFUSED; check https_proxy`);
  });

  it('counts tunnels on its own: 300 requests through few CONNECTs (keep-alive inside the tunnel)', async () => {
    const open = await startConnectProxy();
    try {
      emu.resetStats();
      const r = await run(exportArgs(['--input', users, '--output', join(dir, 'counted.csv')]), { https_proxy: open.url });
      expect(r.code, r.stderr).toBe(0);
      expect(emu.stats().requests).toBe(USERS);
      const tunnels = open.tunnels();
      expect(tunnels.every((t) => t === emuTarget())).toBe(true);
      expect(tunnels.length).toBeGreaterThanOrEqual(2);
      expect(tunnels.length).toBeLessThanOrEqual(CONCURRENCY + 1);
    } finally {
      await open.stop();
    }
  });
});
