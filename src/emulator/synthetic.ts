/**
 * Generated profiles for benchmarks with any number of users: derived from FNV-1a of the id
 * (and of the rec or prediction id), so the same id always gets the same answer, and built
 * only for what the request asks, so a request costs about as much as a fixture lookup.
 */
import type { ProfileQuery } from '../api/types.js';
import { fnv1a32, mix32 } from '../hash.js';
import type { ProfileFixture } from './fixture.js';

const PLANS = ['free', 'starter', 'pro'];
const COUNTRIES = ['United States', 'Germany', 'Japan', 'Brazil'];
const COHORTS = ['cohort-active', 'cohort-newsletter', 'cohort-vip'];
const ITEM_SPACE = 1009; // prime: `base + k * step` mod it gives up to 1009 distinct item numbers

/** A generated profile holding only what `query` asks for; the same id always gives the same answer. */
export function syntheticProfile(id: string, by: 'user' | 'device', query: ProfileQuery): ProfileFixture {
  const h = fnv1a32(id);
  const p: ProfileFixture = by === 'user' ? { user_id: id, device_id: `d-${h.toString(16).padStart(8, '0')}` } : { device_id: id };
  if (query.recIds.length > 0) {
    p.recommendations = query.recIds.map((recId) => {
      const hr = fnv1a32(recId, h);
      const count = 10 + (hr % 41);
      const base = mix32(hr) % ITEM_SPACE;
      const step = 1 + (mix32(hr ^ 0x5bd1e995) % (ITEM_SPACE - 1));
      const items = new Array<string>(count);
      for (let k = 0; k < count; k++) items[k] = `item-${(base + k * step) % ITEM_SPACE}`;
      return { rec_id: recId, items, is_control: (hr >>> 8) % 10 === 0, recommendation_source: 'model', last_updated: 1_700_000_000 + (hr % 2_592_000) };
    });
  }
  if (query.ampProps) {
    p.amp_props = { plan: PLANS[h % 3], country: COUNTRIES[(h >>> 2) % 4], first_used: `2023-0${1 + ((h >>> 4) % 9)}-1${(h >>> 8) % 10}`, 'gp:points': (h >>> 12) % 5000 };
  }
  if (query.computations || query.compIds.length > 0) {
    p.computations = { 'comp-ltv': ((h % 1_000_000) / 100).toFixed(2), 'comp-orders': String((h >>> 20) % 40) };
  }
  if (query.cohortIds) p.cohort_ids = COHORTS.filter((_, i) => (h >>> (16 + i)) & 1);
  if (query.predictionIds.length > 0) {
    p.propensities = {};
    for (const pid of query.predictionIds) {
      const score = (fnv1a32(pid, h) % 1_000_000) / 1_000_000;
      p.propensities[pid] = { score, pct: Math.floor(score * 100) };
    }
  }
  return p;
}
