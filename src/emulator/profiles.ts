/**
 * The emulator's data: fixture profiles read from a JSON file, and the lookup the API does
 * (user_id if the request has one, else device_id), falling back to synthetic profiles.
 */
import { readFile } from 'node:fs/promises';
import type { ProfileQuery } from '../api/types.js';
import type { ProfileFixture, RecFixture } from './fixture.js';
import { fixtureAtEpoch, syntheticProfile } from './synthetic.js';

export type { ProfileFixture, RecFixture };

export { syntheticProfile } from './synthetic.js';

/** Reads and validates a `{ "profiles": [...] }` file; a bad file throws a one-line Error. */
export async function loadProfiles(path: string | URL): Promise<ProfileFixture[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`profiles file ${String(path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseProfiles(text, String(path));
}

/** Validates the text of a profiles file; `source` names it in error messages. */
export function parseProfiles(text: string, source: string): ProfileFixture[] {
  const fail = (what: string): never => {
    throw new Error(`profiles file ${source}: ${what}`.replace(/\s*\n\s*/g, ' '));
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc) || !Array.isArray(doc['profiles'])) return fail('expected an object with a "profiles" array');
  const seen = { user_id: new Set<string>(), device_id: new Set<string>() };
  doc['profiles'].forEach((p: unknown, i: number) => {
    const problem = profileProblem(p);
    if (problem) fail(`profiles[${i}]${problem}`);
    for (const key of ['user_id', 'device_id'] as const) {
      const id = (p as ProfileFixture)[key];
      if (id === undefined) continue;
      if (seen[key].has(id)) fail(`profiles[${i}].${key} "${id}" appears twice`);
      seen[key].add(id);
    }
  });
  return doc['profiles'] as ProfileFixture[];
}

/** What is wrong with one profile (a suffix like `.cohort_ids must be ...`), or null. */
function profileProblem(p: unknown): string | null {
  if (!isObject(p)) return ' must be an object';
  const hasUser = isNonEmptyString(p['user_id']);
  const hasDevice = isNonEmptyString(p['device_id']);
  if (p['user_id'] !== undefined && !hasUser) return '.user_id must be a non-empty string';
  if (p['device_id'] !== undefined && !hasDevice) return '.device_id must be a non-empty string';
  if (!hasUser && !hasDevice) return ' needs a user_id or a device_id';
  const recs = p['recommendations'];
  if (recs !== undefined) {
    if (!Array.isArray(recs)) return '.recommendations must be an array';
    for (const [j, r] of recs.entries()) {
      const at = `.recommendations[${j}]`;
      if (!isObject(r) || !isNonEmptyString(r['rec_id'])) return `${at}.rec_id must be a non-empty string`;
      if (!isStringArray(r['items'])) return `${at}.items must be an array of strings`;
      if (r['child_rec_id'] !== undefined && typeof r['child_rec_id'] !== 'string') return `${at}.child_rec_id must be a string`;
      if (r['is_control'] !== undefined && typeof r['is_control'] !== 'boolean') return `${at}.is_control must be a boolean`;
      if (r['recommendation_source'] !== undefined && typeof r['recommendation_source'] !== 'string') return `${at}.recommendation_source must be a string`;
      if (r['last_updated'] !== undefined && !Number.isFinite(r['last_updated'])) return `${at}.last_updated must be a number`;
    }
  }
  for (const key of ['amp_props', 'computations'] as const) {
    if (p[key] !== undefined && !isObject(p[key])) return `.${key} must be an object`;
  }
  if (p['cohort_ids'] !== undefined && !isStringArray(p['cohort_ids'])) return '.cohort_ids must be an array of strings';
  const props = p['propensities'];
  if (props !== undefined) {
    if (!isObject(props)) return '.propensities must be an object';
    for (const [id, v] of Object.entries(props)) {
      if (!isObject(v) || !Number.isFinite(v['score']) || !Number.isFinite(v['pct'])) {
        return `.propensities["${id}"] must be { "score": number, "pct": number }`;
      }
    }
  }
  return null;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * Finds the profile a request is for: by user_id when the request has one, else by device_id
 * (the export sends only one of them). With `synthetic`, any id gets a generated profile,
 * except ids containing `unknown`, which stay unknown so a benchmark can mix in unknown users.
 */
export class ProfileIndex {
  private readonly byUser = new Map<string, ProfileFixture>();
  private readonly byDevice = new Map<string, ProfileFixture>();

  /** `epoch`: answers as of that epoch (synthetic.ts `changedAt`); 0 = as the fixtures say. */
  constructor(profiles: readonly ProfileFixture[], private readonly synthetic = false, private readonly epoch = 0) {
    for (const p of profiles) {
      if (p.user_id) this.byUser.set(p.user_id, p);
      if (p.device_id) this.byDevice.set(p.device_id, p);
    }
  }

  find(userId: string, deviceId: string, query: ProfileQuery): ProfileFixture | undefined {
    const byUser = userId !== '';
    const id = byUser ? userId : deviceId;
    const found = (byUser ? this.byUser : this.byDevice).get(id);
    if (found) return this.epoch > 0 ? fixtureAtEpoch(found, this.epoch) : found;
    if (!this.synthetic || id === '' || id.includes('unknown')) return undefined;
    return syntheticProfile(id, byUser ? 'user' : 'device', query, this.epoch);
  }
}
