import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProfileQuery } from '../../src/api/types.js';
import { FaultInjector } from '../../src/emulator/faults.js';
import { fnv1a32 } from '../../src/hash.js';
import { ProfileIndex, loadProfiles, parseProfiles } from '../../src/emulator/profiles.js';
import { syntheticProfile } from '../../src/emulator/synthetic.js';
import { tempDir } from '../support/cli.js';

const FIXTURES = new URL('../../fixtures/profiles.json', import.meta.url);
const query = (over: Partial<ProfileQuery> = {}): ProfileQuery => ({
  recIds: [], ampProps: false, cohortIds: false, computations: false, compIds: [], predictionIds: [], ...over,
});

describe('loadProfiles', () => {
  it('loads the shipped fixtures', async () => {
    const profiles = await loadProfiles(FIXTURES);
    expect(profiles.length).toBeGreaterThanOrEqual(14);
    expect(profiles.some((p) => p.user_id === undefined && p.device_id === 'd-anon-5f2c9e1b')).toBe(true);
  });

  it('names the file and the problem in one line', async () => {
    const dir = tempDir('emu-profiles-');
    const file = join(dir, 'bad.json');
    await writeFile(file, '{"profiles": [{"user_id": "u-1", "recommendations": [{"rec_id": "r", "items": [1]}]}]}');
    await expect(loadProfiles(file)).rejects.toThrow(`profiles file ${file}: profiles[0].recommendations[0].items must be an array of strings`);
    await expect(loadProfiles(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot read it \(ENOENT\)/);
  });

  it.each([
    ['{', /not valid JSON/],
    ['[]', /expected an object with a "profiles" array/],
    ['{"profiles": [{"email": "x"}]}', /profiles\[0\] needs a user_id or a device_id/],
    ['{"profiles": [{"user_id": ""}]}', /profiles\[0\]\.user_id must be a non-empty string/],
    ['{"profiles": [{"user_id": "a"}, {"user_id": "a"}]}', /profiles\[1\]\.user_id "a" appears twice/],
    ['{"profiles": [{"device_id": "d", "cohort_ids": "c1"}]}', /cohort_ids must be an array of strings/],
    ['{"profiles": [{"device_id": "d", "propensities": {"p": {"score": 1}}}]}', /propensities\["p"\] must be/],
    ['{"profiles": [{"device_id": "d", "amp_props": []}]}', /amp_props must be an object/],
    ['{"profiles": [{"device_id": "d", "recommendations": [{"rec_id": "r", "items": [], "is_control": "no"}]}]}', /is_control must be a boolean/],
  ])('rejects %s', (text, message) => {
    expect(() => parseProfiles(text, 'x.json')).toThrow(message);
    try {
      parseProfiles(text, 'x.json');
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message.startsWith('profiles file x.json: ')).toBe(true);
    }
  });
});

describe('ProfileIndex', () => {
  const index = new ProfileIndex([{ user_id: 'u-1', device_id: 'd-1' }, { device_id: 'd-2' }]);
  it('looks up by user_id when given, else by device_id', () => {
    expect(index.find('u-1', '', query())?.device_id).toBe('d-1');
    expect(index.find('', 'd-1', query())?.user_id).toBe('u-1');
    expect(index.find('', 'd-2', query())?.device_id).toBe('d-2');
    expect(index.find('u-9', 'd-1', query())).toBeUndefined();
  });
  it('makes up profiles when synthetic, except for unknown ids', () => {
    const synth = new ProfileIndex([], true);
    expect(synth.find('u-42', '', query())?.user_id).toBe('u-42');
    expect(synth.find('', 'dev-42', query())).toEqual({ device_id: 'dev-42' });
    expect(synth.find('unknown-1', '', query())).toBeUndefined();
    expect(synth.find('u-unknown-1', '', query())).toBeUndefined();
  });
});

describe('syntheticProfile', () => {
  const q = query({ recIds: ['homepage', 'email-weekly'], ampProps: true, cohortIds: true, compIds: ['comp-ltv'], predictionIds: ['p-buy'] });
  it('is deterministic and holds what was asked', () => {
    const a = syntheticProfile('u-77', 'user', q);
    expect(syntheticProfile('u-77', 'user', q)).toEqual(a);
    expect(a.device_id).toMatch(/^d-[0-9a-f]{8}$/);
    expect(a.recommendations!.map((r) => r.rec_id)).toEqual(['homepage', 'email-weekly']);
    expect(a.propensities!['p-buy']!.score).toBeGreaterThanOrEqual(0);
    expect(a.computations).toHaveProperty('comp-ltv');
    expect(syntheticProfile('u-78', 'user', q)).not.toEqual(a);
  });
  it('gives 10-50 distinct items per rec, about 10% control', () => {
    let control = 0;
    for (let i = 0; i < 2000; i++) {
      const [rec] = syntheticProfile(`u-${i}`, 'user', query({ recIds: ['homepage'] })).recommendations!;
      expect(rec!.items.length).toBeGreaterThanOrEqual(10);
      expect(rec!.items.length).toBeLessThanOrEqual(50);
      expect(new Set(rec!.items).size).toBe(rec!.items.length);
      if (rec!.is_control) control++;
    }
    expect(control).toBeGreaterThan(120);
    expect(control).toBeLessThan(280);
  });
});

describe('fnv1a32', () => {
  const reference = (s: string) => {
    let h = 0x811c9dc5;
    for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193);
    return h >>> 0;
  };
  it('matches the published vectors and hashes UTF-8 bytes', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    for (const s of ['Crème brûlée', '日本茶', 'emoji 🎁', 'lone \ud800 surrogate', '\udc00x']) expect(fnv1a32(s)).toBe(reference(s));
  });
});

describe('FaultInjector', () => {
  const opts = { rate: 0.3, kinds: ['500', 'drop'] as const, seed: 7, slowMs: 0, retryAfterSeconds: 1 };
  it('depends on (seed, id, attempt) only, not on the order ids arrive in', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `u-${i}`);
    const a = new FaultInjector({ ...opts, kinds: [...opts.kinds] });
    const b = new FaultInjector({ ...opts, kinds: [...opts.kinds] });
    const first = ids.flatMap((id) => [`${id}:${a.decide(id)}`, `${id}:${a.decide(id)}`]);
    const reversed = [...ids].reverse().flatMap((id) => [`${id}:${b.decide(id)}`, `${id}:${b.decide(id)}`]);
    expect(new Set(first)).toEqual(new Set(reversed));
    const faulted = first.filter((s) => !s.endsWith(':null')).length;
    expect(faulted).toBeGreaterThan(80);
    expect(faulted).toBeLessThan(160);
  });
  it('rejects bad options', () => {
    expect(() => new FaultInjector({ ...opts, kinds: [...opts.kinds], rate: 2 })).toThrow(/rate: expected a number from 0 to 1, got 2/);
    expect(() => new FaultInjector({ ...opts, kinds: ['404' as '500'] })).toThrow(/kinds/);
  });
});
