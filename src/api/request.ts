/**
 * The path and query string of one `GET /v1/userprofile` (docs/profile-api.md,
 * "Request"). Pure and on the hot path: a job builds one string per user, so the part that only
 * depends on the job's query is built once by `makePathBuilder`, and each call concatenates the
 * encoded id in front of it.
 */
import type { ProfileQuery, UserRef } from './types.js';

export const PROFILE_PATH = '/v1/userprofile';

// Lone UTF-16 surrogates make encodeURIComponent throw (URIError). Only used on that rare path.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Percent-encodes one id or value: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is escaped, so
 * a `,`, `&`, `+`, `#`, `/`, space or non-ASCII character inside an id cannot change the query.
 * A lone surrogate (malformed UTF-16, e.g. from a JSON `\ud800` escape) becomes U+FFFD instead of
 * throwing: such an id cannot exist in Amplitude, so the API answers "not seen before" for that
 * one user rather than the whole run failing.
 */
export function encodeValue(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(LONE_SURROGATE, '\uFFFD'));
  }
}

/**
 * Encodes each element and joins them with a literal `,`, as the docs write multiple ids
 * (`rec_id=testRecId,testRecId2`, docs/profile-api.md). A comma inside one id is sent as `%2C`.
 */
export function encodeList(values: readonly string[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    out += encodeValue(values[i]!);
  }
  return out;
}

/**
 * Everything after the id, each part starting with `&`, in a fixed order so that the same inputs
 * give the same bytes: get_recs+rec_id, rec_type, get_amp_props, get_cohort_ids,
 * get_computations, comp_id, get_propensity+prediction_id, propensity_type.
 */
export function buildQuerySuffix(query: ProfileQuery): string {
  let s = '';
  if (query.recIds.length > 0) s += '&get_recs=true&rec_id=' + encodeList(query.recIds);
  if (query.recType) s += '&rec_type=' + encodeValue(query.recType);
  if (query.ampProps) s += '&get_amp_props=true';
  if (query.cohortIds) s += '&get_cohort_ids=true';
  if (query.computations) s += '&get_computations=true';
  // comp_id stands alone (docs/profile-api.md, "Request": no get_computations).
  if (query.compIds.length > 0) s += '&comp_id=' + encodeList(query.compIds);
  if (query.predictionIds.length > 0) {
    s += '&get_propensity=true&prediction_id=' + encodeList(query.predictionIds);
    // propensity_type only qualifies prediction ids (docs/profile-api.md); alone it asks for nothing.
    if (query.propensityType) s += '&propensity_type=' + encodeValue(query.propensityType);
  }
  return s;
}

/**
 * Returns a function that builds `/v1/userprofile?<id>=...&...` for one user. The query is read
 * once, here: later changes to `query` do not reach the returned function.
 *
 * The id: `user_id` when the row has a non-empty one, otherwise `device_id`; never both, so the
 * row's user_id decides which profile is read. Ids are sent as given (not trimmed); a row with
 * neither id yields `device_id=` (sources are expected to reject such rows).
 */
export function makePathBuilder(query: ProfileQuery): (user: UserRef) => string {
  const suffix = buildQuerySuffix(query);
  const byUser = PROFILE_PATH + '?user_id=';
  const byDevice = PROFILE_PATH + '?device_id=';
  return (user: UserRef): string =>
    user.user_id
      ? byUser + encodeValue(user.user_id) + suffix
      : byDevice + encodeValue(user.device_id) + suffix;
}

/**
 * One-off form of `makePathBuilder(query)(user)`. It rebuilds the query suffix on every call:
 * per-user loops should keep the function `makePathBuilder` returns.
 */
export function buildProfilePath(user: UserRef, query: ProfileQuery): string {
  return makePathBuilder(query)(user);
}
