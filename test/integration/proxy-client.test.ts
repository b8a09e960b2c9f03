import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfileClient } from '../../src/api/client.js';
import type { ProfileQuery } from '../../src/api/types.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { createServer, type Socket } from 'node:net';
import { createLogger } from '../../src/log.js';
import { EnvProxyAgent } from '../../src/net/node-agent.js';
import { checkedRoute } from '../../src/net/preflight.js';
import { proxyFor } from '../../src/net/proxy-env.js';
import { ProxyError } from '../../src/net/proxy-errors.js';
import { fixtureEmulator } from '../support/emulator.js';
import { type RunningProxy, startConnectProxy } from '../support/proxy.js';
import { type LocalS3, startS3 } from '../support/s3.js';

/**
 * The two clients in-process, through a CONNECT proxy written in the test (it counts tunnels and
 * can demand a password): the Profile API client (undici) and the AWS SDK with the proxy agent.
 */
let emu: RunningEmulator;
let s3: LocalS3;
let open: RunningProxy;
let strict: RunningProxy & { refused(): number };

beforeAll(async () => {
  emu = await fixtureEmulator({ synthetic: true });
  s3 = await startS3('bucket');
  open = await startConnectProxy();
  strict = await startConnectProxy('svc:right-pw');
});
afterAll(async () => {
  await emu?.close();
  await s3?.stop();
  await open?.stop();
  await strict?.stop();
});

const query: ProfileQuery = { recIds: ['homepage'], ampProps: false, cohortIds: false, computations: false, compIds: [], predictionIds: [] };
const apiClient = (proxyUrl: string, connections: number) => {
  const apiUrl = new URL(emu.url);
  return new ProfileClient({ apiUrl, secretKey: 'demo-secret-key', query, connections, timeoutMs: 5000, proxy: proxyFor(apiUrl, { http_proxy: proxyUrl }) });
};

describe('Profile API client through a proxy', () => {
  it('keeps tunnels alive: 60 requests at 3 in flight open at most 3 CONNECTs', async () => {
    const before = open.tunnels().length;
    emu.resetStats();
    const client = apiClient(open.url, 3);
    try {
      for (let batch = 0; batch < 20; batch++) {
        const answers = await Promise.all([0, 1, 2].map((i) => client.attempt({ user_id: `user-${batch * 3 + i}`, device_id: '' })));
        for (const a of answers) expect(a.kind).toBe('answer');
      }
    } finally {
      await client.close();
    }
    expect(emu.stats().requests).toBe(60);
    const tunnels = open.tunnels().length - before;
    expect(tunnels).toBeGreaterThanOrEqual(1);
    expect(tunnels).toBeLessThanOrEqual(3);
  });

  it('a proxy that starts refusing the password mid-run stops the run (fatal), not every user', async () => {
    const client = apiClient(strict.url.replace('right-pw', 'rotated'), 2);
    try {
      const a = await client.attempt({ user_id: 'user-1', device_id: '' });
      expect(a.kind).toBe('fatal');
      const err = (a as { error: Error }).error;
      expect(err).toBeInstanceOf(ProxyError);
      expect(err.message).toMatch(/^the proxy http:\/\/\[REDACTED\]@127\.0\.0\.1:\d+ \(from http_proxy\) answered 407 to a tunnel/);
      expect(err.message).not.toContain('rotated');
    } finally {
      await client.close();
    }
  });
});

describe('AWS SDK through the proxy agent', () => {
  const sdk = (env: Record<string, string>) =>
    new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test-key', secretAccessKey: 'test-secret' },
      requestHandler: { httpAgent: new EnvProxyAgent(env), httpsAgent: new EnvProxyAgent(env) },
    });

  it('20 uploads and a download through one kept-alive tunnel', async () => {
    const before = open.tunnels().length;
    const client = sdk({ http_proxy: open.url });
    try {
      for (let i = 0; i < 20; i++) await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: `k${i}`, Body: `body ${i}` }));
      const got = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k19' }));
      expect(await got.Body!.transformToString()).toBe('body 19');
    } finally {
      client.destroy();
    }
    const tunnels = open.tunnels().slice(before);
    expect(tunnels).toEqual([new URL(s3.endpoint).host]);
  });

  it('NO_PROXY goes direct: no tunnel', async () => {
    const before = open.tunnels().length;
    const client = sdk({ http_proxy: open.url, NO_PROXY: '127.0.0.1' });
    try {
      await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'direct', Body: 'x' }));
    } finally {
      client.destroy();
    }
    expect(open.tunnels().length).toBe(before);
  });

  it('a refused tunnel is a ProxyError with one clear line, not the proxy page as an S3 answer', async () => {
    const client = sdk({ http_proxy: strict.url.replace('right-pw', 'wrong-pw') });
    try {
      await expect(client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'no', Body: 'x' }))).rejects.toSatisfy(
        (err: Error) => err instanceof ProxyError && /answered 407 Proxy Authentication Required to a tunnel to 127\.0\.0\.1:\d+: check the user and password in http_proxy$/.test(err.message),
      );
    } finally {
      client.destroy();
    }
  });
});

describe('a proxy that accepts connections and never answers', () => {
  let silent: ReturnType<typeof createServer>;
  const held = new Set<Socket>();
  let url: string;
  beforeAll(async () => {
    silent = createServer((s) => void held.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    url = `http://svc:pw-123@127.0.0.1:${(silent.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('the preflight gives up after its timeout: one line, exit 2', async () => {
    const log = createLogger({ level: 'silent' });
    const err = await checkedRoute(new URL('https://profile-api.example'), 'Profile API', log, { https_proxy: url }, 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/^cannot connect to the proxy http:\/\/\[REDACTED\]@127\.0\.0\.1:\d+ \(from https_proxy\): no answer; check https_proxy$/);
  });

  it('S3 through it fails after the tunnel timeout (retried as a timeout), instead of hanging', async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts: 2,
      credentials: { accessKeyId: 'test-key', secretAccessKey: 'test-secret' },
      requestHandler: { httpAgent: new EnvProxyAgent({ http_proxy: url }, 300) },
    });
    try {
      await expect(client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'hang', Body: 'x' }))).rejects.toSatisfy(
        (err: Error) => err instanceof ProxyError && /: ETIMEDOUT; check http_proxy$/.test(err.message),
      );
    } finally {
      client.destroy();
    }
  });
});
