/**
 * The emulator's data: fixture profiles read from a JSON file, the lookup the API does
 * (user_id if the request has one, else device_id), and cheap deterministic synthetic
 * profiles for benchmarks with any number of users.
 */
import { readFile } from 'node:fs/promises';
import type { ProfileQuery } from '../api/types.js';

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

  constructor(profiles: readonly ProfileFixture[], private readonly synthetic = false) {
    for (const p of profiles) {
      if (p.user_id) this.byUser.set(p.user_id, p);
      if (p.device_id) this.byDevice.set(p.device_id, p);
    }
  }

  find(userId: string, deviceId: string, query: ProfileQuery): ProfileFixture | undefined {
    const byUser = userId !== '';
    const id = byUser ? userId : deviceId;
    const found = (byUser ? this.byUser : this.byDevice).get(id);
    if (found || !this.synthetic || id === '' || id.includes('unknown')) return found;
    return syntheticProfile(id, byUser ? 'user' : 'device', query);
  }
}

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
const PLANS = ['free', 'starter', 'pro'];
const COUNTRIES = ['United States', 'Germany', 'Japan', 'Brazil'];
const COHORTS = ['cohort-active', 'cohort-newsletter', 'cohort-vip'];

/** FNV-1a 32-bit over the UTF-8 bytes of `s` (no Buffer); `h` continues an earlier hash. */
export function fnv1a32(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (c >= 0xd800 && c < 0xe000) {
      const d = s.charCodeAt(i + 1); // NaN past the end
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd; // a lone surrogate, as TextEncoder encodes it
      }
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), 0x01000193);
    } else {
      if (c < 0x10000) {
        h = Math.imul(h ^ (0xe0 | (c >> 12)), 0x01000193);
      } else {
        h = Math.imul(h ^ (0xf0 | (c >> 18)), 0x01000193);
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 63)), 0x01000193);
      }
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 63)), 0x01000193);
    }
    h = Math.imul(h ^ (0x80 | (c & 63)), 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finaliser: spreads every input bit over the 32-bit result. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
