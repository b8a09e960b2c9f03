import { describe, expect, it } from 'vitest';
import { ProfileIndex } from '../../src/emulator/profiles.js';
import { changedAt, fixtureAtEpoch, syntheticProfile } from '../../src/emulator/synthetic.js';
import { query } from '../support/query.js';

describe('emulator --epoch', () => {
  const q = query({ recIds: ['homepage'], predictionIds: ['p-buy'], cohortIds: true });
  const ids = Array.from({ length: 5000 }, (_, i) => `u-${i}`);

  it('changes about one user in ten at each epoch, the same ones every time', () => {
    for (const epoch of [1, 2, 3]) {
      const changed = ids.filter((id) => changedAt(id, epoch) === epoch);
      expect(changed.length).toBeGreaterThan(400);
      expect(changed.length).toBeLessThan(600);
      expect(ids.filter((id) => changedAt(id, epoch) === epoch)).toEqual(changed);
    }
  });

  it('gives new recommendations and propensities to exactly the users that changed', () => {
    let changed = 0;
    for (const id of ids.slice(0, 1000)) {
      const before = syntheticProfile(id, 'user', q, 1);
      const after = syntheticProfile(id, 'user', q, 2);
      const moved = changedAt(id, 2) === 2;
      if (moved) changed++;
      expect(JSON.stringify(after.recommendations) !== JSON.stringify(before.recommendations)).toBe(moved);
      expect(after.propensities!['p-buy']!.score !== before.propensities!['p-buy']!.score).toBe(moved);
      // What does not change with the epoch stays as it was.
      expect(after.device_id).toBe(before.device_id);
      expect(after.cohort_ids).toEqual(before.cohort_ids);
    }
    expect(changed).toBeGreaterThan(50);
  });

  it('epoch 0 answers as before the option existed', () => {
    expect(syntheticProfile('u-9', 'user', q, 0)).toEqual(syntheticProfile('u-9', 'user', q));
  });

  it('moves fixture profiles on too', () => {
    const id = ids.find((x) => changedAt(x, 1) === 1)!;
    const fixture = { user_id: id, recommendations: [{ rec_id: 'homepage', items: ['a', 'b', 'c'] }], propensities: { 'p-buy': { score: 0.5, pct: 50 } } };
    const index = new ProfileIndex([fixture], false, 1);
    const now = index.find(id, '', q)!;
    expect(now.recommendations![0]!.items).not.toEqual(['a', 'b', 'c']);
    expect(now.propensities!['p-buy']!.score).not.toBe(0.5);
    const still = ids.find((x) => changedAt(x, 1) === 0)!;
    expect(fixtureAtEpoch({ ...fixture, user_id: still }, 1)).toEqual({ ...fixture, user_id: still });
  });
});
