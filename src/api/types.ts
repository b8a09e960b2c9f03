/**
 * The one profile shape the rest of the pipeline sees, whatever shape the API answered in
 * (official `propensities`, scalar `propensity`, older `predictions` / `cohort_memberships`).
 * See docs/profile-api.md.
 */

/** One recommendation as the API returns it; `items` best first. */
export interface Recommendation {
  rec_id: string;
  child_rec_id: string | null;
  items: string[];
  is_control: boolean | null;
  recommendation_source: string | null;
  last_updated: number | null;
}

export type PropensityType = 'score' | 'pct';

/** One propensity per prediction id, as the official `propensities` list has it. */
export interface Propensity {
  prop: number | null;
  pred_id: string;
  prop_type: PropensityType | null;
}

export interface Profile {
  user_id: string | null;
  device_id: string | null;
  /** null: not asked, or nothing there. */
  recommendations: Recommendation[] | null;
  propensities: Propensity[] | null;
  cohort_ids: string[] | null;
  amp_props: Record<string, unknown> | null;
}

/** What the parameters of one `GET /v1/userprofile` ask for (ids excluded). */
export interface ProfileQuery {
  recIds: string[];
  recType?: 'model' | 'random' | undefined;
  ampProps: boolean;
  cohortIds: boolean;
  computations: boolean;
  compIds: string[];
  predictionIds: string[];
  propensityType?: PropensityType | undefined;
}

/** The id a request is made for: `user_id` when the row has one, else `device_id`. */
export interface UserRef {
  user_id: string;
  device_id: string;
}

/** What a parsed API answer means. */
export type NormalizedAnswer =
  | { kind: 'profile'; profile: Profile }
  | { kind: 'unknown_user' };

/** The API's "not seen before" text (docs/profile-api.md, "Errors"). */
export const UNKNOWN_USER_ERROR = 'User id and device id not seen before';
/** The API's throttling text (docs/profile-api.md, "Errors"). */
export const THROTTLED_ERROR =
  'Number of requests per minute exceeds system limit. Contact Support if you need this limit raised';
export const INVALID_KEY_ERROR = 'Invalid Api-Key';
export const MISSING_KEY_ERROR = 'Missing Api-Key in Authorization header';
