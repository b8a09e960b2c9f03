import * as undici from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Pool, ProxyAgent } from '../../src/net/undici.js';
import type { RunningEmulator } from '../../src/emulator/server.js';
import { fixtureEmulator } from '../support/emulator.js';

// src/net/undici.ts loads undici's classes from their own modules (start-up time); they must be
// the very classes undici's index exports, with the request API its index wires onto them. (The
// built CLI, which the e2e tier spawns, holds no undici index at all: every export there asks
// through this wiring alone.)
describe('undici, loaded by parts', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await fixtureEmulator({ synthetic: true });
  });
  afterAll(async () => emu.close());

  it('gives the classes of the pinned undici index', () => {
    expect(Pool).toBe(undici.Pool);
    expect(ProxyAgent).toBe(undici.ProxyAgent);
    expect(Client).toBe(undici.Client);
  });

  it('a Pool of its own answers a request to the emulator', async () => {
    const pool = new Pool(emu.url, { connections: 1 });
    try {
      const res = await pool.request({ method: 'GET', path: '/v1/userprofile?user_id=user-1&get_recs=true&rec_id=homepage', headers: { authorization: 'Api-Key demo-secret-key' } });
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(await res.body.text())).toHaveProperty('userData');
    } finally {
      await pool.close();
    }
  });
});
