/** The shape of the emulator's fixture profiles (fixtures/profiles.json), shared by the loader and the synthetic maker. */
/** One recommendation as a fixture holds it; missing fields get the API's usual values. */
export interface RecFixture {
  rec_id: string;
  /** @default rec_id */
  child_rec_id?: string;
  items: string[];
  /** @default false */
  is_control?: boolean;
  /** @default 'model' */
  recommendation_source?: string;
  /** Epoch seconds. @default null */
  last_updated?: number;
}

export interface ProfileFixture {
  /** At least one of user_id and device_id. */
  user_id?: string;
  device_id?: string;
  recommendations?: RecFixture[];
  /** User properties, no computations. */
  amp_props?: Record<string, unknown>;
  /** comp_id -> value; answered inside amp_props. */
  computations?: Record<string, unknown>;
  cohort_ids?: string[];
  /** prediction_id -> values. */
  propensities?: Record<string, { score: number; pct: number }>;
}
