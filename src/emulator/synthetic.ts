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

/**
 * The last epoch, from 1 to `epoch`, at which this id's answers changed; 0 when they never did.
 * At each epoch about one id in ten changes (its own hash, so which ids change is the same on
 * every run), which lets a test or a benchmark play night 1, 2, 3 of an incremental export.
 */
export function changedAt(id: string, epoch: number): number {
  const h = fnv1a32(id);
  for (let e = epoch; e >= 1; e--) if (mix32(h ^ Math.imul(e, 0x9e3779b1)) % 10 === 0) return e;
  return 0;
}

/**
 * A generated profile holding only what `query` asks for; the same id always gives the same
 * answer at the same `epoch` (recommendations and propensities change at `changedAt`).
 */
export function syntheticProfile(id: string, by: 'user' | 'device', query: ProfileQuery, epoch = 0): ProfileFixture {
  const h = fnv1a32(id);
  const v = epoch > 0 ? changedAt(id, epoch) : 0;
  // Recs and propensities draw from this seed: a new one at each change, the old one before.
  const hv = v === 0 ? h : mix32(h ^ Math.imul(v, 0x85ebca6b));
  const p: ProfileFixture = by === 'user' ? { user_id: id, device_id: `d-${h.toString(16).padStart(8, '0')}` } : { device_id: id };
  if (query.recIds.length > 0) {
    p.recommendations = query.recIds.map((recId) => {
      const hr = fnv1a32(recId, hv);
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
      const score = (fnv1a32(pid, hv) % 1_000_000) / 1_000_000;
      p.propensities[pid] = { score, pct: Math.floor(score * 100) };
    }
  }
  return p;
}

/**
 * A fixture profile as it reads at `epoch`: unchanged unless `changedAt` says its answers moved
 * on, then its items rotate by that epoch and its propensities shift, so its rows differ.
 */
export function fixtureAtEpoch(p: ProfileFixture, epoch: number): ProfileFixture {
  const v = epoch > 0 ? changedAt(p.user_id ?? p.device_id ?? '', epoch) : 0;
  if (v === 0) return p;
  const out: ProfileFixture = { ...p };
  if (p.recommendations) {
    out.recommendations = p.recommendations.map((r) => {
      const n = r.items.length;
      const k = n > 0 ? v % n : 0;
      const items = [...r.items.slice(k), ...r.items.slice(0, k)];
      // A rotation that gives the same list (one item, or a multiple of the length) still changes: a new item.
      return { ...r, items: k === 0 ? [...items, `item-epoch-${v}`] : items };
    });
  }
  if (p.propensities) {
    out.propensities = Object.fromEntries(
      Object.entries(p.propensities).map(([id, x]) => {
        const score = Math.round(((x.score + v / 7) % 1) * 1e6) / 1e6;
        return [id, { score, pct: Math.floor(score * 100) }];
      }),
    );
  }
  return out;
}
