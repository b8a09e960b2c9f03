import { describe, expect, it } from 'vitest';
import type { ProfileFixture } from '../../src/emulator/profiles.js';
import { buildUserData, parseProfileQuery } from '../../src/emulator/respond.js';
import { SlidingWindowThrottle, maxInWindow } from '../../src/emulator/throttle.js';

const full: ProfileFixture = {
  user_id: 'u-1',
  device_id: 'd-1',
  recommendations: [
    { rec_id: 'homepage', items: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], is_control: false, recommendation_source: 'model', last_updated: 1608670720 },
    { rec_id: 'email-weekly', child_rec_id: 'email-weekly-b', items: ['x', 'y'], is_control: true, recommendation_source: 'model2', last_updated: 1608670658 },
  ],
  amp_props: { plan: 'pro', visits: 3 },
  computations: { 'comp-ltv': '5000000.0', 'comp-orders': '3' },
  cohort_ids: ['cohort1', 'cohort3'],
  propensities: { 'p-churn': { score: 0.25, pct: 40 }, 'p-buy': { score: 0.75, pct: 90 } },
};
const bare: ProfileFixture = { device_id: 'd-only', recommendations: [{ rec_id: 'homepage', items: ['z'] }] };

const answer = (profile: ProfileFixture, query: string, shape?: 'official' | 'legacy') =>
  buildUserData(profile, parseProfileQuery(new URLSearchParams(query)), shape);

describe('buildUserData: always-present keys', () => {
  it('answers nulls for everything not asked, with the profile ids', () => {
    expect(answer(full, 'user_id=u-1')).toStrictEqual({
      recommendations: null, user_id: 'u-1', device_id: 'd-1', amp_props: null, cohort_ids: null,
    });
  });
  it('answers null for an id the profile lacks', () => {
    expect(answer(bare, 'device_id=d-only')).toMatchObject({ user_id: null, device_id: 'd-only' });
  });
});

describe('buildUserData: recommendations', () => {
  it('gives one rec as the documented examples do, child_rec_id defaulting to rec_id', () => {
    const json = JSON.stringify({ userData: answer(full, 'user_id=u-1&get_recs=true&rec_id=homepage') });
    expect(json).toBe(
      '{"userData":{"recommendations":[{"rec_id":"homepage","child_rec_id":"homepage","items":["a","b","c","d","e","f","g","h"],' +
        '"is_control":false,"recommendation_source":"model","last_updated":1608670720}],' +
        '"user_id":"u-1","device_id":"d-1","amp_props":null,"cohort_ids":null}}',
    );
  });
  it('gives several recs in the requested order, leaving out ids the profile lacks', () => {
    const recs = answer(full, 'rec_id=email-weekly,nope,homepage').recommendations;
    expect(recs?.map((r) => [r.rec_id, r.child_rec_id, r.is_control])).toEqual([
      ['email-weekly', 'email-weekly-b', true],
      ['homepage', 'homepage', false],
    ]);
  });
  it('answers null when none of the requested recs exist, or get_recs=false', () => {
    expect(answer(full, 'rec_id=nope').recommendations).toBeNull();
    expect(answer(full, 'get_recs=false&rec_id=homepage').recommendations).toBeNull();
    expect(answer({ user_id: 'u', recommendations: [] }, 'rec_id=homepage').recommendations).toBeNull();
    expect(answer({ user_id: 'u' }, 'rec_id=homepage').recommendations).toBeNull();
  });
  it('fills the usual values for fields a fixture leaves out', () => {
    expect(answer(bare, 'rec_id=homepage').recommendations).toEqual([
      { rec_id: 'homepage', child_rec_id: 'homepage', items: ['z'], is_control: false, recommendation_source: 'model', last_updated: null },
    ]);
  });
  it('trims and de-duplicates list parameters', () => {
    expect(answer(full, 'rec_id=%20homepage%20,homepage,,').recommendations).toHaveLength(1);
  });
  it('shuffles items deterministically with rec_type=random', () => {
    const [a] = answer(full, 'rec_id=homepage&rec_type=random').recommendations!;
    const [b] = answer(full, 'rec_id=homepage&rec_type=random').recommendations!;
    expect(a!.recommendation_source).toBe('random');
    expect(a!.items).toEqual(b!.items);
    expect(a!.items).not.toEqual(full.recommendations![0]!.items);
    expect([...a!.items].sort()).toEqual(full.recommendations![0]!.items);
    expect(answer(full, 'rec_id=homepage&rec_type=model').recommendations![0]!.items).toEqual(full.recommendations![0]!.items);
  });
  it('does not hand out the fixture arrays', () => {
    answer(full, 'rec_id=homepage').recommendations![0]!.items.push('mutated');
    answer(full, 'get_cohort_ids=true').cohort_ids!.push('mutated');
    expect(full.recommendations![0]!.items).toHaveLength(8);
    expect(full.cohort_ids).toHaveLength(2);
  });
});

describe('buildUserData: amp_props and computations', () => {
  it('gives user properties without computations', () => {
    expect(answer(full, 'get_amp_props=true').amp_props).toStrictEqual({ plan: 'pro', visits: 3 });
  });
  it('gives all computations inside amp_props', () => {
    expect(answer(full, 'get_computations=true').amp_props).toStrictEqual({ 'comp-ltv': '5000000.0', 'comp-orders': '3' });
    expect(answer(full, 'get_amp_props=true&get_computations=true').amp_props).toStrictEqual({
      plan: 'pro', visits: 3, 'comp-ltv': '5000000.0', 'comp-orders': '3',
    });
  });
  it('gives the named computations, null for one the profile lacks', () => {
    expect(answer(full, 'comp_id=comp-orders,comp-x').amp_props).toStrictEqual({ 'comp-orders': '3', 'comp-x': null });
    expect(answer(full, 'get_amp_props=true&comp_id=comp-ltv').amp_props).toStrictEqual({ plan: 'pro', visits: 3, 'comp-ltv': '5000000.0' });
    expect(answer(bare, 'comp_id=toString').amp_props).toStrictEqual({ toString: null });
  });
  it('answers {} when asked and the profile has nothing', () => {
    expect(answer(bare, 'get_amp_props=true&get_computations=true').amp_props).toStrictEqual({});
  });
});

describe('buildUserData: cohorts', () => {
  it('gives cohort_ids, an empty list when the profile has none', () => {
    expect(answer(full, 'get_cohort_ids=true').cohort_ids).toEqual(['cohort1', 'cohort3']);
    expect(answer(bare, 'get_cohort_ids=true').cohort_ids).toEqual([]);
  });
});

describe('buildUserData: propensities', () => {
  it('gives one propensity and the scalar when one id is asked (score by default)', () => {
    const d = answer(full, 'get_propensity=true&prediction_id=p-buy');
    expect(d.propensities).toEqual([{ prop: 0.75, pred_id: 'p-buy', prop_type: 'score' }]);
    expect(d.propensity).toBe(0.75);
  });
  it('gives the percentile with propensity_type=pct', () => {
    const d = answer(full, 'get_propensity=true&prediction_id=p-churn&propensity_type=pct');
    expect(d.propensities).toEqual([{ prop: 40, pred_id: 'p-churn', prop_type: 'pct' }]);
    expect(d.propensity).toBe(40);
  });
  it('gives one entry per id in order, null prop for a missing one, no scalar', () => {
    const d = answer(full, 'get_propensity=true&prediction_id=p-nope,p-churn');
    expect(d.propensities).toEqual([
      { prop: null, pred_id: 'p-nope', prop_type: 'score' },
      { prop: 0.25, pred_id: 'p-churn', prop_type: 'score' },
    ]);
    expect(d.propensity).toBeNull();
    expect(answer(bare, 'get_propensity=true&prediction_id=p-buy').propensity).toBeNull();
  });
  it('leaves both keys out when not asked', () => {
    for (const q of ['prediction_id=p-buy', 'get_propensity=true', 'get_propensity=false&prediction_id=p-buy']) {
      const d = answer(full, q);
      expect('propensity' in d || 'propensities' in d).toBe(false);
    }
  });
});

describe('buildUserData: legacy shape (Amplitude help, "Use recommendations in personalization campaigns")', () => {
  it('answers predictions and cohort_memberships instead', () => {
    const d = answer(full, 'rec_id=homepage&get_cohort_ids=true&get_propensity=true&prediction_id=p-buy,p-nope', 'legacy');
    expect(Object.keys(d)).toEqual(['recommendations', 'user_id', 'device_id', 'amp_props', 'cohort_memberships', 'predictions']);
    expect(d.cohort_memberships).toEqual(['cohort1', 'cohort3']);
    expect(d.predictions).toEqual([
      { name: 'p-buy', percentile: 90, pred_id: 'p-buy', probability: 0.75 },
      { name: 'p-nope', percentile: null, pred_id: 'p-nope', probability: null },
    ]);
  });
  it('leaves cohort_memberships and predictions out when not asked', () => {
    expect(Object.keys(answer(full, 'user_id=u-1', 'legacy'))).toEqual(['recommendations', 'user_id', 'device_id', 'amp_props']);
  });
});

describe('maxInWindow', () => {
  it('counts nothing in nothing', () => {
    expect(maxInWindow([], 1000)).toBe(0);
    expect(maxInWindow([5], 1000)).toBe(1);
  });
  it('puts arrivals exactly windowMs apart in different windows', () => {
    expect(maxInWindow([0, 1000], 1000)).toBe(1);
    expect(maxInWindow([0, 999.999], 1000)).toBe(2);
    expect(maxInWindow([0, 1000, 2000, 3000], 1000)).toBe(1);
  });
  it('finds the busiest window', () => {
    expect(maxInWindow([0, 100, 200, 1100, 1150, 1199, 2500], 1000)).toBe(4); // [200, 1200)
    expect(maxInWindow([7, 7, 7], 1)).toBe(3);
    expect(maxInWindow([0, 10, 20, 30], 60_000)).toBe(4);
  });
  it('sorts unsorted input without changing it', () => {
    const arrivals = [1150, 0, 1100, 200, 100, 1199];
    expect(maxInWindow(arrivals, 1000)).toBe(4);
    expect(arrivals[0]).toBe(1150);
  });
});

describe('SlidingWindowThrottle', () => {
  it('accepts limit per window and frees a slot exactly windowMs after it was taken', () => {
    const t = new SlidingWindowThrottle(3, 1000);
    expect([0, 1, 2, 3, 999].map((ms) => t.tryAcquire(ms))).toEqual([true, true, true, false, false]);
    expect([1000, 1000.5, 1001, 1002].map((ms) => t.tryAcquire(ms))).toEqual([true, false, true, true]);
  });
  it('never lets more than limit through in any window, and throttles only when full', () => {
    let x = 12345;
    const random = () => ((x = Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const t = new SlidingWindowThrottle(50, 1000);
    const accepted: number[] = [];
    let now = 0;
    for (let i = 0; i < 20_000; i++) {
      now += random() * 40;
      if (t.tryAcquire(now)) accepted.push(now);
      else expect(accepted.filter((a) => a > now - 1000)).toHaveLength(50);
    }
    expect(maxInWindow(accepted, 1000)).toBe(50);
  });
});
