/**
 * Every documented answer shape -> one `Profile` (docs/profile-api.md). Pure, no I/O.
 *
 * Shapes accepted, beside the official one (docs/profile-api.md, "Answer"):
 * - `propensities` (official), scalar `propensity`, older `predictions` ("Older answer shapes");
 * - older `cohort_memberships` instead of `cohort_ids` ("Older answer shapes");
 * - `user_properties` / `computed_properties` instead of `amp_props`, `child_ids` instead of
 *   `items` ("Unconfirmed field names": a third-party OpenAPI file, used only as fallbacks).
 *
 * Unknown fields are ignored and wrong types never throw: a field of the wrong type becomes null,
 * a list element of the wrong type is skipped. Runs once per user (a million times a night), so:
 * no clones (`amp_props` is passed through by reference), no regexes, one pass per list.
 */
import {
  THROTTLED_ERROR,
  UNKNOWN_USER_ERROR,
  type NormalizedAnswer,
  type Profile,
  type ProfileQuery,
  type Propensity,
  type PropensityType,
  type Recommendation,
} from './types.js';

type Obj = Record<string, unknown>;

const UNKNOWN_USER_LC = UNKNOWN_USER_ERROR.toLowerCase();
const THROTTLED_LC = THROTTLED_ERROR.toLowerCase();
// The first sentence alone ("Number of requests per minute exceeds system limit"): the second
// one is advice to the reader and the likeliest part to be reworded.
const THROTTLED_PREFIX_LC = THROTTLED_LC.slice(0, THROTTLED_LC.indexOf('.'));

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string as is, a finite number as its decimal text, anything else null. */
function toId(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function toStr(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** A finite number, or a string holding one ("1608670720", " 0.5 "); else null. */
function toNumber(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return null;
    const n = Number(t);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function toBool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true') return true;
    if (t === 'false') return false;
  }
  return null;
}

function toPropType(v: unknown): PropensityType | null {
  return v === 'score' || v === 'pct' ? v : null;
}

/** Strings kept, finite numbers turned into strings, other elements skipped. */
function toStringList(list: unknown[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const s = toId(list[i]);
    if (s !== null) out.push(s);
  }
  return out;
}

function toRecommendation(v: unknown): Recommendation | null {
  if (!isObject(v)) return null;
  const recId = toId(v.rec_id);
  if (recId === null || recId === '') return null;
  const items = v.items;
  const childIds = v.child_ids;
  return {
    rec_id: recId,
    child_rec_id: toId(v.child_rec_id),
    items: Array.isArray(items)
      ? toStringList(items)
      : Array.isArray(childIds)
        ? toStringList(childIds)
        : [],
    is_control: toBool(v.is_control),
    recommendation_source: toStr(v.recommendation_source),
    last_updated: toNumber(v.last_updated),
  };
}

function toRecommendations(v: unknown): Recommendation[] | null {
  if (!Array.isArray(v)) return null;
  const out: Recommendation[] = [];
  for (let i = 0; i < v.length; i++) {
    const r = toRecommendation(v[i]);
    if (r !== null) out.push(r);
  }
  return out;
}

/**
 * Preference: official `propensities` (when an array), then the scalar `propensity` when exactly
 * one prediction id was asked (it is null when several were), then the older `predictions`.
 */
function toPropensities(d: Obj, query: ProfileQuery): Propensity[] | null {
  const list = d.propensities;
  if (Array.isArray(list)) return eachPrediction(list, (e, pred_id) => ({ prop: toNumber(e.prop), pred_id, prop_type: toPropType(e.prop_type) }));

  const asked = query.predictionIds;
  const askedType: PropensityType = query.propensityType ?? 'score';
  if (asked.length === 1) {
    const prop = toNumber(d.propensity);
    if (prop !== null) return [{ prop, pred_id: asked[0]!, prop_type: askedType }];
  }

  const preds = d.predictions;
  if (Array.isArray(preds)) {
    return eachPrediction(preds, (e, pred_id) => ({ prop: toNumber(askedType === 'pct' ? e.percentile : e.probability), pred_id, prop_type: askedType }));
  }
  return null;
}

/** Entries of a prediction list that are objects with a non-empty `pred_id`, mapped by `make`. */
function eachPrediction(list: unknown[], make: (e: Obj, predId: string) => Propensity): Propensity[] {
  const out: Propensity[] = [];
  for (const e of list) {
    if (!isObject(e)) continue;
    const predId = toId(e.pred_id);
    if (predId !== null && predId !== '') out.push(make(e, predId));
  }
  return out;
}

function toCohortIds(d: Obj): string[] | null {
  const ids = d.cohort_ids;
  if (Array.isArray(ids)) return toStringList(ids);
  const older = d.cohort_memberships;
  if (Array.isArray(older)) return toStringList(older);
  return null;
}

/** `amp_props`, else the OpenAPI seed's two maps merged (computed wins on a shared key). */
function toAmpProps(d: Obj): Record<string, unknown> | null {
  const props = d.amp_props;
  if (isObject(props)) return props;
  const user = d.user_properties;
  const computed = d.computed_properties;
  const hasUser = isObject(user);
  const hasComputed = isObject(computed);
  if (hasUser && hasComputed) return { ...user, ...computed };
  if (hasUser) return user;
  if (hasComputed) return computed;
  return null;
}

/** Maps a `userData` object to a `Profile`. */
export function normalizeProfile(d: Obj, query: ProfileQuery): Profile {
  return {
    user_id: toStr(d.user_id),
    device_id: toStr(d.device_id),
    recommendations: toRecommendations(d.recommendations),
    propensities: toPropensities(d, query),
    cohort_ids: toCohortIds(d),
    amp_props: toAmpProps(d),
  };
}

/**
 * What a parsed body means, whatever the HTTP status (the API answers "not seen before" on 200,
 * 400 or 404: the status is the caller's business). A body with a `userData` object is a
 * profile; the "not seen before" error (trimmed, case-insensitive) is an unknown user; anything
 * else is null, which the caller treats as a bad answer.
 */
export function normalizeBody(json: unknown, query: ProfileQuery): NormalizedAnswer | null {
  if (!isObject(json)) return null;
  const data = json.userData;
  if (isObject(data)) return { kind: 'profile', profile: normalizeProfile(data, query) };
  const error = json.error;
  if (typeof error === 'string' && error.trim().toLowerCase() === UNKNOWN_USER_LC) {
    return { kind: 'unknown_user' };
  }
  return null;
}

/**
 * True for the org-wide rate-limit body (docs/profile-api.md, "Errors"), compared trimmed and
 * case-insensitive; its first sentence alone is enough.
 */
export function isThrottleBody(json: unknown): boolean {
  if (!isObject(json)) return false;
  const error = json.error;
  if (typeof error !== 'string') return false;
  const t = error.trim().toLowerCase();
  return t === THROTTLED_LC || t.startsWith(THROTTLED_PREFIX_LC);
}

/** The body's `error` field when it is a string, as sent; else null. */
export function errorText(json: unknown): string | null {
  if (!isObject(json)) return null;
  const error = json.error;
  return typeof error === 'string' ? error : null;
}
