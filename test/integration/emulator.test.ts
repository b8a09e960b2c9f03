import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INVALID_KEY_ERROR, MISSING_KEY_ERROR, THROTTLED_ERROR, UNKNOWN_USER_ERROR } from '../../src/api/types.js';
import { loadProfiles, type ProfileFixture } from '../../src/emulator/profiles.js';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/server.js';

const KEY = 'test-secret';
const AUTH = { authorization: `Api-Key ${KEY}` };
let profiles: ProfileFixture[];
const running: RunningEmulator[] = [];

beforeAll(async () => {
  profiles = await loadProfiles(new URL('../../fixtures/profiles.json', import.meta.url));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

async function emulator(o: Partial<EmulatorOptions> = {}): Promise<RunningEmulator> {
  const e = await startEmulator({ port: 0, host: '127.0.0.1', profiles, secretKey: KEY, ...o });
  running.push(e);
  return e;
}
const get = (e: RunningEmulator, query: Record<string, string>, headers: Record<string, string> = AUTH) =>
  fetch(`${e.url}/v1/userprofile?${new URLSearchParams(query)}`, { headers });

describe('documented answers (Amplitude docs, "User Profile API")', () => {
  it('answers 401 with the two documented texts', async () => {
    const e = await emulator();
    for (const headers of [{}, { authorization: 'Bearer x' }, { authorization: 'Api-Key' }, { authorization: 'Api-Key   ' }]) {
      const res = await get(e, { user_id: 'u-1001' }, headers);
      expect([res.status, await res.text()]).toEqual([401, MISSING_KEY_ERROR]);
    }
    const res = await get(e, { user_id: 'u-1001' }, { authorization: 'Api-Key wrong' });
    expect([res.status, await res.text()]).toEqual([401, INVALID_KEY_ERROR]);
    e.setSecretKey('wrong');
    expect((await get(e, { user_id: 'u-1001' }, { authorization: 'Api-Key wrong' })).status).toBe(200);
  });

  it('answers 400 without an id', async () => {
    const e = await emulator();
    for (const query of [{}, { user_id: '', device_id: '' }, { get_recs: 'true', rec_id: 'homepage' }]) {
      const res = await get(e, query);
      expect([res.status, await res.json()]).toEqual([400, { error: 'user_id or device_id is required' }]);
    }
  });

  it.each([200, 400, 404] as const)('answers "not seen before" with status %i when asked to', async (unknownStatus) => {
    const e = await emulator({ unknownStatus });
    const res = await get(e, { user_id: 'u-unknown-1' });
    expect(res.status).toBe(unknownStatus);
    expect(await res.text()).toBe(`{"error":"${UNKNOWN_USER_ERROR}"}`);
  });

  it('answers an empty 404 on any other path or method', async () => {
    const e = await emulator();
    for (const [path, method] of [['/v1/userprofile/', 'GET'], ['/', 'GET'], ['/v1/userprofile', 'POST'], ['/v2/userprofile?user_id=u-1001', 'GET']]) {
      const res = await fetch(`${e.url}${path}`, { method, headers: AUTH });
      expect([res.status, await res.text()]).toEqual([404, '']);
    }
  });

  it('answers 200 with recommendations in the documented shape', async () => {
    const e = await emulator();
    const res = await get(e, { user_id: 'u-1001', get_recs: 'true', rec_id: 'email-weekly,homepage', get_propensity: 'true', prediction_id: 'p-buy' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const { userData } = await res.json();
    expect(userData.user_id).toBe('u-1001');
    expect(userData.device_id).toBe('d-7f3a9c21-1001');
    expect(userData.recommendations.map((r: { rec_id: string }) => r.rec_id)).toEqual(['email-weekly', 'homepage']);
    expect(userData.recommendations[1]).toEqual({
      rec_id: 'homepage', child_rec_id: 'homepage', items: ['sku-1042', 'sku-2210', 'sku-0077', 'sku-3141', 'sku-2718'],
      is_control: false, recommendation_source: 'model', last_updated: 1718000000,
    });
    expect(userData).toMatchObject({ amp_props: null, cohort_ids: null, propensity: 0.734 });
  });

  it('finds device-only profiles and ids that need URL encoding', async () => {
    const e = await emulator();
    const anon = await (await get(e, { device_id: 'd-anon-5f2c9e1b', rec_id: 'homepage' })).json();
    expect(anon.userData).toMatchObject({ user_id: null, device_id: 'd-anon-5f2c9e1b' });
    const plus = await (await get(e, { user_id: 'u-1012+tag@example.com', rec_id: 'homepage' })).json();
    expect(plus.userData.recommendations[0].items).toEqual(['sku-1212', 'sku-2121']);
  });

  it('answers the legacy shape', async () => {
    const e = await emulator({ shape: 'legacy' });
    const res = await get(e, { user_id: 'u-1011', get_cohort_ids: 'true', get_propensity: 'true', prediction_id: 'p-churn' });
    const { userData } = await res.json();
    expect(userData.cohort_ids).toBeUndefined();
    expect(userData.cohort_memberships).toEqual(['cohort-active', 'cohort-vip', 'cohort-newsletter']);
    expect(userData.predictions).toEqual([{ name: 'p-churn', percentile: 1, pred_id: 'p-churn', probability: 0.02 }]);
    expect(userData.propensities).toBeUndefined();
  });

  it('serves synthetic profiles, keeping "unknown" ids unknown', async () => {
    const e = await emulator({ synthetic: true });
    const q = { user_id: 'user-123456', rec_id: 'homepage' };
    const a = await (await get(e, q)).text();
    expect(a).toBe(await (await get(e, q)).text());
    expect(JSON.parse(a).userData.recommendations[0].items.length).toBeGreaterThanOrEqual(10);
    expect((await get(e, { user_id: 'u-unknown-1' })).status).toBe(400);
    expect((await get(e, { user_id: 'u-1001', rec_id: 'homepage' })).status).toBe(200);
  });
});

describe('throttle', () => {
  it('answers 429 with the exact text over the limit, and serves again once the window passed', async () => {
    const e = await emulator({ rateLimit: 5, rateIntervalMs: 1000 });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(e, { user_id: 'u-1001' })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const res = await get(e, { user_id: 'u-1002' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await res.json()).toEqual({ error: THROTTLED_ERROR });
    await sleep(1100);
    expect((await get(e, { user_id: 'u-1001' })).status).toBe(200);
    expect(e.stats()).toMatchObject({ requests: 8, throttled: 2, byStatus: { '200': 6, '429': 2 } });
  });
});

describe('faults', () => {
  const faults = (kinds: NonNullable<EmulatorOptions['faults']>['kinds'], over = {}) => ({ rate: 1, kinds, seed: 1, slowMs: 50, retryAfterSeconds: 7, ...over });

  it('answers 500 and 503 with a short text, before checking the key', async () => {
    const e = await emulator({ faults: faults(['500']) });
    const res = await get(e, { user_id: 'u-1001' }, {});
    expect([res.status, await res.text()]).toEqual([500, 'Internal Server Error']);
    e.setFaults(faults(['503']));
    expect((await get(e, { user_id: 'u-1001' })).status).toBe(503);
    e.setFaults(null);
    expect((await get(e, { user_id: 'u-1001' })).status).toBe(200);
  });

  it('drops the connection', async () => {
    const e = await emulator({ faults: faults(['drop']) });
    await expect(get(e, { user_id: 'u-1001' })).rejects.toThrow();
    expect(e.stats().byStatus).toEqual({ drop: 1 });
  });

  it('answers slowly but normally', async () => {
    const e = await emulator({ faults: faults(['slow']) });
    const res = await get(e, { user_id: 'u-1001', rec_id: 'homepage' });
    expect(res.status).toBe(200);
    expect((await res.json()).userData.user_id).toBe('u-1001');
  });

  it('truncates the body of a 200', async () => {
    const e = await emulator({ faults: faults(['truncate']) });
    const res = await get(e, { user_id: 'u-1001', rec_id: 'homepage' });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.length).toBeGreaterThan(10);
    expect(() => JSON.parse(text)).toThrow();
  });

  it('answers 429 with Retry-After', async () => {
    const e = await emulator({ faults: faults(['429']) });
    const res = await get(e, { user_id: 'u-1001' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toEqual({ error: THROTTLED_ERROR });
  });

  it('gives the same faults per id and attempt for the same seed, whatever the order', async () => {
    const f = faults(['500', '503'], { rate: 0.5, seed: 42 });
    const ids = profiles.flatMap((p) => (p.user_id ? [p.user_id] : []));
    const run = async (e: RunningEmulator, order: string[]) => {
      const seen = new Map<string, number[]>();
      for (let attempt = 0; attempt < 3; attempt++) {
        await Promise.all(order.map(async (id) => {
          const status = (await get(e, { user_id: id })).status;
          seen.set(id, [...(seen.get(id) ?? []), status]);
        }));
      }
      return Object.fromEntries([...seen].sort(([a], [b]) => a.localeCompare(b)));
    };
    const first = await run(await emulator({ faults: f }), ids);
    const second = await run(await emulator({ faults: f }), [...ids].reverse());
    const other = await run(await emulator({ faults: { ...f, seed: 43 } }), ids);
    expect(second).toEqual(first);
    expect(other).not.toEqual(first);
    expect(new Set(Object.values(first).flat())).toEqual(new Set([200, 500, 503]));
  });
});

describe('stats', () => {
  it('counts requests, statuses and ids, and serves them on /__emulator/stats without counting that', async () => {
    const e = await emulator({ record: true, faults: faults503() });
    await get(e, { user_id: 'u-1001' });
    e.setFaults(null);
    await get(e, { user_id: 'u-1001' });
    await get(e, { device_id: 'd-anon-5f2c9e1b' });
    await get(e, { user_id: 'nobody' });
    await get(e, {}, {});
    await fetch(`${e.url}/elsewhere`);
    const stats = e.stats();
    expect(stats).toMatchObject({
      requests: 6, throttled: 0, faults: 1, maxInWindow: 6,
      byStatus: { '503': 1, '200': 2, '400': 1, '401': 1, '404': 1 },
      perId: { 'u-1001': 2, 'd-anon-5f2c9e1b': 1, nobody: 1 },
    });
    expect(stats.arrivals).toHaveLength(6);
    expect(Math.abs(stats.arrivals![0]! - Date.now())).toBeLessThan(60_000);
    const served = await (await fetch(`${e.url}/__emulator/stats`)).json();
    expect(served).toEqual(stats);
    expect(e.stats().requests).toBe(6);
    e.resetStats();
    expect(e.stats()).toEqual({ requests: 0, byStatus: {}, throttled: 0, faults: 0, maxInWindow: 0, arrivals: [], perId: {} });
  });

  it('keeps no arrivals without record', async () => {
    const e = await emulator();
    await get(e, { user_id: 'u-1001' });
    expect(e.stats()).toEqual({ requests: 1, byStatus: { '200': 1 }, throttled: 0, faults: 0, maxInWindow: 0 });
  });
});

function faults503(): EmulatorOptions['faults'] {
  return { rate: 1, kinds: ['503'], seed: 1, slowMs: 0, retryAfterSeconds: 1 };
}
