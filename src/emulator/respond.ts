/**
 * The `userData` answer for one profile and one query, as docs/profile-api.md shows it
 * ("Answer", shape 'official') or as the older recommendations guide does ("Older answer shapes", shape 'legacy').
 * Pure: no I/O, no clock.
 */
import type { ProfileQuery, Propensity, PropensityType, Recommendation } from '../api/types.js';
import { fnv1a32, mix32 } from '../hash.js';
import type { ProfileFixture, RecFixture } from './profiles.js';

export type ResponseShape = 'official' | 'legacy';

/** One prediction in the older shape (docs/profile-api.md, "Older answer shapes"). */
export interface LegacyPrediction {
  name: string;
  percentile: number | null;
  pred_id: string;
  probability: number | null;
}

export interface UserData {
  recommendations: Recommendation[] | null;
  user_id: string | null;
  device_id: string | null;
  amp_props: Record<string, unknown> | null;
  /** official: always present, null when not asked. */
  cohort_ids?: string[] | null;
  /** official, only when propensities were asked: the prop when one id was asked, else null. */
  propensity?: number | null;
  propensities?: Propensity[];
  /** legacy, only when asked. */
  cohort_memberships?: string[];
  predictions?: LegacyPrediction[];
}

/**
 * Reads the documented parameters. Booleans are on only when exactly `true`; recs are on when
 * `rec_id` is given unless `get_recs=false` (the older guide calls with `rec_id` alone: docs/profile-api.md, "Request"). Lists are
 * comma-separated, trimmed, without empty or repeated entries.
 */
export function parseProfileQuery(params: URLSearchParams): ProfileQuery {
  const recType = params.get('rec_type');
  const propensityType = params.get('propensity_type');
  return {
    recIds: params.get('get_recs') === 'false' ? [] : splitList(params.get('rec_id')),
    recType: recType === 'model' || recType === 'random' ? recType : undefined,
    ampProps: params.get('get_amp_props') === 'true',
    cohortIds: params.get('get_cohort_ids') === 'true',
    computations: params.get('get_computations') === 'true',
    compIds: splitList(params.get('comp_id')),
    predictionIds: params.get('get_propensity') === 'true' ? splitList(params.get('prediction_id')) : [],
    propensityType: propensityType === 'score' || propensityType === 'pct' ? propensityType : undefined,
  };
}

function splitList(value: string | null): string[] {
  if (value === null || value === '') return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const id = part.trim();
    if (id !== '' && !out.includes(id)) out.push(id);
  }
  return out;
}

/** The `userData` object for `profile` as asked by `query`. */
export function buildUserData(profile: ProfileFixture, query: ProfileQuery, shape: ResponseShape = 'official'): UserData {
  const data: UserData = {
    recommendations: pickRecommendations(profile, query),
    user_id: profile.user_id ?? null,
    device_id: profile.device_id ?? null,
    amp_props: pickAmpProps(profile, query),
  };
  const cohorts = query.cohortIds ? (profile.cohort_ids ?? []).slice() : null;
  const ids = query.predictionIds;
  if (shape === 'official') {
    data.cohort_ids = cohorts;
    if (ids.length > 0) {
      const type: PropensityType = query.propensityType ?? 'score';
      data.propensities = ids.map((id) => ({ prop: propensityOf(profile, id)?.[type] ?? null, pred_id: id, prop_type: type }));
      data.propensity = ids.length === 1 ? data.propensities[0]!.prop : null;
    }
  } else {
    if (cohorts) data.cohort_memberships = cohorts;
    if (ids.length > 0) {
      data.predictions = ids.map((id) => {
        const p = propensityOf(profile, id);
        return { name: id, percentile: p?.pct ?? null, pred_id: id, probability: p?.score ?? null };
      });
    }
  }
  return data;
}

/** The profile's recs for the requested ids in the requested order; null when there are none. */
function pickRecommendations(profile: ProfileFixture, query: ProfileQuery): Recommendation[] | null {
  const recs = profile.recommendations;
  if (query.recIds.length === 0 || !recs || recs.length === 0) return null;
  const out: Recommendation[] = [];
  for (const id of query.recIds) {
    const rec = recs.find((r) => r.rec_id === id);
    if (rec) out.push(toRecommendation(profile, rec, query.recType === 'random'));
  }
  return out.length > 0 ? out : null;
}

function toRecommendation(profile: ProfileFixture, rec: RecFixture, random: boolean): Recommendation {
  const seed = fnv1a32(rec.rec_id, fnv1a32(profile.user_id ?? profile.device_id ?? ''));
  return {
    rec_id: rec.rec_id,
    child_rec_id: rec.child_rec_id ?? rec.rec_id,
    items: random ? shuffled(rec.items, seed) : rec.items.slice(),
    is_control: rec.is_control ?? false,
    recommendation_source: random ? 'random' : (rec.recommendation_source ?? 'model'),
    last_updated: rec.last_updated ?? null,
  };
}

/** A Fisher-Yates shuffle driven by a hash of (seed, position): the same seed, the same order. */
function shuffled(items: readonly string[], seed: number): string[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = mix32(seed + Math.imul(i, 0x9e3779b9)) % (i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/**
 * `get_amp_props` gives the user properties, `get_computations` merges every computation in,
 * `comp_id` merges the named ones (null for one the profile lacks, docs/profile-api.md). Null when none
 * of them was asked; `{}` when asked and the profile has nothing.
 */
function pickAmpProps(profile: ProfileFixture, query: ProfileQuery): Record<string, unknown> | null {
  if (!query.ampProps && !query.computations && query.compIds.length === 0) return null;
  const out: Record<string, unknown> = {};
  if (query.ampProps && profile.amp_props) Object.assign(out, profile.amp_props);
  const comps = profile.computations;
  if (query.computations && comps) Object.assign(out, comps);
  for (const id of query.compIds) out[id] = comps && Object.hasOwn(comps, id) ? comps[id] : null;
  return out;
}

function propensityOf(profile: ProfileFixture, id: string): { score: number; pct: number } | undefined {
  const props = profile.propensities;
  return props && Object.hasOwn(props, id) ? props[id] : undefined;
}
