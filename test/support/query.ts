import type { ProfileQuery } from '../../src/api/types.js';

/** A ProfileQuery asking for nothing, with `over` applied. */
export const query = (over: Partial<ProfileQuery> = {}): ProfileQuery => ({
  recIds: [],
  ampProps: false,
  cohortIds: false,
  computations: false,
  compIds: [],
  predictionIds: [],
  ...over,
});
