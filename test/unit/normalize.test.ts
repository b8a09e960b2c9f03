import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorText, isThrottleBody, normalizeBody } from '../../src/api/normalize.js';
import {
  INVALID_KEY_ERROR,
  THROTTLED_ERROR,
  UNKNOWN_USER_ERROR,
  type Profile,
  type ProfileQuery,
  type Recommendation,
} from '../../src/api/types.js';
import { query } from '../support/query.js';

const FIXTURES = new URL('./fixtures/seed-responses/', import.meta.url);

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));
}


function profileOf(json: unknown, q: ProfileQuery = query()): Profile {
  const answer = normalizeBody(json, q);
  if (answer?.kind !== 'profile') throw new Error(`expected a profile, got ${JSON.stringify(answer)}`);
  return answer.profile;
}

function profile(over: Partial<Profile>): Profile {
  return {
    user_id: null,
    device_id: null,
    recommendations: null,
    propensities: null,
    cohort_ids: null,
    amp_props: null,
    ...over,
  };
}

// Expected values written out from the documentation pages: Braze's "Amplitude User Profile API
// Endpoints", Amplitude's "User Profile API" and its OpenAPI specification, and the help article
// "Use recommendations in personalization campaigns" (the older shape).

const TEST_REC_ID: Recommendation = {
  rec_id: 'testRecId',
  child_rec_id: 'testRecId',
  items: ['cookie', 'cracker', 'chocolate milk', 'donut', 'croissant'],
  is_control: false,
  recommendation_source: 'model',
  last_updated: 1608670720,
};
const TEST_REC_ID_2: Recommendation = {
  rec_id: 'testRecId2',
  child_rec_id: 'testRecId2',
  items: ['bulgogi', 'bibimbap', 'kimchi', 'croffles', 'samgyeopsal'],
  is_control: false,
  recommendation_source: 'model2',
  last_updated: 1608670658,
};
const USER_PROPS = {
  library: 'http/1.0',
  first_used: '2020-01-13',
  last_used: '2021-03-24',
  number_property: 12,
  boolean_property: true,
};
const TEST_USER = { user_id: 'testUser', device_id: 'ffff-ffff-ffff-ffff' };
const USER_12345 = { user_id: '12345', device_id: 'ffff-ffff-ffff-ffff' };

const ENDPOINTS_000: Record<string, [ProfileQuery, Profile]> = {
  'get-a-recommendation': [
    query({ recIds: ['testRecId'] }),
    profile({ ...TEST_USER, recommendations: [TEST_REC_ID] }),
  ],
  'get-multiple-recommendations': [
    query({ recIds: ['testRecId', 'testRecId2'] }),
    profile({ ...TEST_USER, recommendations: [TEST_REC_ID, TEST_REC_ID_2] }),
  ],
  'get-user-properties': [query({ ampProps: true }), profile({ ...TEST_USER, amp_props: USER_PROPS })],
  'get-cohort-ids': [
    query({ cohortIds: true }),
    profile({ ...TEST_USER, cohort_ids: ['cohort1', 'cohort3', 'cohort7'] }),
  ],
  'get-a-single-computation': [
    query({ compIds: ['testCompId'] }),
    profile({ ...TEST_USER, amp_props: { 'computed-prop-2': '3' } }),
  ],
  'get-all-computations': [
    query({ computations: true }),
    profile({ ...TEST_USER, amp_props: { 'computed-prop-1': '5000000.0', 'computed-prop-2': '3' } }),
  ],
};

const INVESTING_ITEMS = [
  'investing-101',
  'mortgage-rates-primer',
  'retirement-goals',
  'what-is-a-cd',
  'setting-up-direct-deposit',
];
const MYUSER = { user_id: 'myuser', device_id: 'bef34a71-62cd-5b2e-af2f-58cd2eabb4d9' };

const SEED_EXAMPLES: Record<string, [ProfileQuery, Profile]> = {
  ...Object.fromEntries(Object.entries(ENDPOINTS_000).map(([k, v]) => [`000-${k}.json`, v])),
  // A copy of Braze's page with the prose stripped: the same bodies, named after its sections.
  ...Object.fromEntries(Object.entries(ENDPOINTS_000).map(([k, v]) => [`003-${k}.json`, v])),
  '001-get-a-recommendation.json': [
    query({ recIds: ['testRecId'] }),
    profile({ ...USER_12345, recommendations: [{ ...TEST_REC_ID, rec_id: '98765', child_rec_id: '98765' }] }),
  ],
  '001-get-multiple-recommendations.json': [
    query({ recIds: ['testRecId', 'testRecID2'] }),
    profile({ ...USER_12345, recommendations: [TEST_REC_ID, TEST_REC_ID_2] }),
  ],
  '001-get-user-properties.json': [
    query({ ampProps: true }),
    profile({ ...USER_12345, amp_props: USER_PROPS }),
  ],
  '001-get-cohort-ids.json': [
    query({ cohortIds: true }),
    profile({ ...TEST_USER, cohort_ids: ['cohort1', 'cohort3', 'cohort7'] }),
  ],
  '001-get-all-computations.json': [
    query({ computations: true }),
    profile({ ...TEST_USER, amp_props: { 'computed-prop-1': '5000000.0', 'computed-prop-2': '3' } }),
  ],
  '001-get-computation-by-id.json': [
    query({ computations: true, compIds: ['COMP_ID'] }),
    profile({ ...TEST_USER, amp_props: { 'computed-prop-2': '3' } }),
  ],
  // The OpenAPI example (YAML in the seed, transcribed to JSON): every field is `{}`.
  '002-get-user-profile-200-example.json': [query({ recIds: ['r'] }), profile({ amp_props: {} })],
  '004-the-api-recommendation.json': [
    query({ recIds: ['s234ssg'] }),
    profile({
      ...MYUSER,
      recommendations: [
        {
          rec_id: 's234ssg',
          child_rec_id: null,
          items: INVESTING_ITEMS,
          is_control: true,
          recommendation_source: 'recommendations_model_v2',
          last_updated: 1614192260,
        },
      ],
    }),
  ],
  '004-the-api-recs-props-predictions-cohorts.json': [
    query({ recIds: ['s234ssg'], ampProps: true, cohortIds: true, predictionIds: ['t456tth'] }),
    profile({
      ...MYUSER,
      amp_props: {
        country: 'United States',
        city: 'Springfield',
        first_used: '2019-04-30',
        language: 'English',
        carrier: 'Verizon',
        last_used: '2021-02-25',
        plan_type: 'starter',
        device: 'samsung samsung SM-N976V',
        os: 'android 30',
        app_version: '6.1.0',
        'gp:membership_points': '1752',
        'gp:initial_utm_campaign': 'abcd',
        'gp:email': 'user@example.com',
      },
      recommendations: [
        {
          rec_id: 's234ssg',
          child_rec_id: null,
          items: INVESTING_ITEMS,
          is_control: false,
          recommendation_source: 'recommendations_model_v2',
          last_updated: 1614192260,
        },
      ],
      propensities: [{ prop: 0.734, pred_id: 't456tth', prop_type: 'score' }],
      cohort_ids: ['u567uui'],
    }),
  ],
};

describe('seed response examples', () => {
  it('has an expectation for every fixture file, and a file for every expectation', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(Object.keys(SEED_EXAMPLES).sort());
    expect(files).toHaveLength(21);
  });

  it.each(Object.entries(SEED_EXAMPLES))('%s', (name, [q, expected]) => {
    expect(normalizeBody(fixture(name), q)).toEqual({ kind: 'profile', profile: expected });
  });

  it('reads the older predictions as percentiles when pct was asked (the help article\'s shape)', () => {
    const p = profileOf(
      fixture('004-the-api-recs-props-predictions-cohorts.json'),
      query({ predictionIds: ['t456tth'], propensityType: 'pct' }),
    );
    expect(p.propensities).toEqual([{ prop: 97.5, pred_id: 't456tth', prop_type: 'pct' }]);
  });

  it('reads the older predictions even when no prediction id was asked', () => {
    const p = profileOf(fixture('004-the-api-recs-props-predictions-cohorts.json'), query());
    expect(p.propensities).toEqual([{ prop: 0.734, pred_id: 't456tth', prop_type: 'score' }]);
  });
});

// The condensed example of profile-api.md, with both `propensity` and `propensities`.
function condensed(): Record<string, unknown> {
  return {
    userData: {
      user_id: '12345',
      device_id: 'ffff-ffff-ffff-ffff',
      recommendations: [
        {
          rec_id: 'r1',
          child_rec_id: 'r1',
          items: ['cookie', 'donut'],
          is_control: false,
          recommendation_source: 'model',
          last_updated: 1608670720,
        },
      ],
      amp_props: { library: 'http/1.0', 'computed-prop-2': '3' },
      cohort_ids: ['cohort1', 'cohort3'],
      propensity: 0.500001,
      propensities: [{ prop: 0.500001, pred_id: '0x10x', prop_type: 'score' }],
    },
  };
}

function withData(fields: Record<string, unknown>): Record<string, unknown> {
  return { userData: fields };
}

describe('profile-api.md condensed example', () => {
  it('maps every field', () => {
    expect(profileOf(condensed(), query({ recIds: ['r1'], predictionIds: ['0x10x'] }))).toEqual({
      user_id: '12345',
      device_id: 'ffff-ffff-ffff-ffff',
      recommendations: [
        {
          rec_id: 'r1',
          child_rec_id: 'r1',
          items: ['cookie', 'donut'],
          is_control: false,
          recommendation_source: 'model',
          last_updated: 1608670720,
        },
      ],
      propensities: [{ prop: 0.500001, pred_id: '0x10x', prop_type: 'score' }],
      cohort_ids: ['cohort1', 'cohort3'],
      amp_props: { library: 'http/1.0', 'computed-prop-2': '3' },
    });
  });

  it('passes amp_props through without copying', () => {
    const body = condensed();
    const data = body.userData as Record<string, unknown>;
    expect(profileOf(body).amp_props).toBe(data.amp_props);
  });
});

describe('propensities', () => {
  const one = query({ predictionIds: ['0x10x'] });

  it('prefers the official list over the scalar and the older predictions', () => {
    const body = withData({
      propensity: 0.9,
      propensities: [
        { prop: 0.1, pred_id: 'a', prop_type: 'score' },
        { prop: 80, pred_id: 'b', prop_type: 'pct' },
      ],
      predictions: [{ name: 'x', percentile: 50, pred_id: 'c', probability: 0.5 }],
    });
    expect(profileOf(body, one).propensities).toEqual([
      { prop: 0.1, pred_id: 'a', prop_type: 'score' },
      { prop: 80, pred_id: 'b', prop_type: 'pct' },
    ]);
  });

  it('keeps the official entries as sent: numeric strings read, odd values null, no pred_id skipped', () => {
    const body = withData({
      propensities: [
        { prop: '0.25', pred_id: 'a', prop_type: 'score' },
        { prop: 'high', pred_id: 'b', prop_type: 'raw' },
        { prop: null, pred_id: 7 },
        { prop: 0.3 },
        { prop: 0.3, pred_id: '' },
        'a',
        null,
        [1],
      ],
    });
    expect(profileOf(body, one).propensities).toEqual([
      { prop: 0.25, pred_id: 'a', prop_type: 'score' },
      { prop: null, pred_id: 'b', prop_type: null },
      { prop: null, pred_id: '7', prop_type: null },
    ]);
  });

  it('uses the scalar propensity when exactly one prediction id was asked', () => {
    const body = withData({ propensity: 0.500001 });
    expect(profileOf(body, one).propensities).toEqual([
      { prop: 0.500001, pred_id: '0x10x', prop_type: 'score' },
    ]);
    expect(profileOf(body, query({ predictionIds: ['0x10x'], propensityType: 'pct' })).propensities).toEqual([
      { prop: 0.500001, pred_id: '0x10x', prop_type: 'pct' },
    ]);
    expect(profileOf(withData({ propensity: '0.5' }), one).propensities).toEqual([
      { prop: 0.5, pred_id: '0x10x', prop_type: 'score' },
    ]);
  });

  it('ignores the scalar propensity when several or no ids were asked, or when it is null', () => {
    const body = withData({ propensity: 0.5 });
    expect(profileOf(body, query({ predictionIds: ['p', 'q'] })).propensities).toBeNull();
    expect(profileOf(body, query()).propensities).toBeNull();
    expect(profileOf(withData({ propensity: null }), one).propensities).toBeNull();
    expect(profileOf(withData({ propensity: 'n/a' }), one).propensities).toBeNull();
  });

  it('falls back to the older predictions when the scalar is null', () => {
    const body = withData({
      propensity: null,
      predictions: [
        { name: 'Convert', percentile: '97.5', pred_id: 'p', probability: 0.734 },
        { name: 'Churn', pred_id: 'q' },
        { name: 'no id', percentile: 1, probability: 0.1 },
        42,
      ],
    });
    expect(profileOf(body, one).propensities).toEqual([
      { prop: 0.734, pred_id: 'p', prop_type: 'score' },
      { prop: null, pred_id: 'q', prop_type: 'score' },
    ]);
    expect(profileOf(body, query({ propensityType: 'pct' })).propensities).toEqual([
      { prop: 97.5, pred_id: 'p', prop_type: 'pct' },
      { prop: null, pred_id: 'q', prop_type: 'pct' },
    ]);
  });

  it('is null when no shape is there, or none is a list', () => {
    expect(profileOf(withData({}), one).propensities).toBeNull();
    expect(profileOf(withData({ propensities: { a: 1 }, predictions: 'x' }), query()).propensities).toBeNull();
  });
});

describe('cohort ids', () => {
  it('reads the older cohort_memberships (the help article shape) when cohort_ids is absent', () => {
    expect(profileOf(withData({ cohort_memberships: ['u567uui'] })).cohort_ids).toEqual(['u567uui']);
  });

  it('prefers cohort_ids, even empty', () => {
    expect(profileOf(withData({ cohort_ids: [], cohort_memberships: ['x'] })).cohort_ids).toEqual([]);
  });

  it('turns numbers into strings and skips other elements', () => {
    expect(profileOf(withData({ cohort_ids: ['a', 12, null, {}, true, ['b']] })).cohort_ids).toEqual([
      'a',
      '12',
    ]);
  });

  it('is null when neither is a list', () => {
    expect(profileOf(withData({ cohort_ids: null })).cohort_ids).toBeNull();
    expect(profileOf(withData({ cohort_ids: 'cohort1', cohort_memberships: {} })).cohort_ids).toBeNull();
  });
});

describe('amp_props', () => {
  it('merges the OpenAPI seed user_properties and computed_properties, computed winning', () => {
    const body = withData({
      user_properties: { city: 'Springfield', shared: 'user' },
      computed_properties: { 'computed-prop-2': '3', shared: 'computed' },
    });
    expect(profileOf(body).amp_props).toEqual({
      city: 'Springfield',
      'computed-prop-2': '3',
      shared: 'computed',
    });
  });

  it('uses either map alone', () => {
    expect(profileOf(withData({ user_properties: { a: 1 }, computed_properties: null })).amp_props).toEqual({ a: 1 });
    expect(profileOf(withData({ computed_properties: { b: 2 }, user_properties: [1] })).amp_props).toEqual({ b: 2 });
  });

  it('prefers amp_props over the OpenAPI maps', () => {
    const body = withData({ amp_props: { a: 1 }, user_properties: { b: 2 } });
    expect(profileOf(body).amp_props).toEqual({ a: 1 });
  });

  it('falls back to the OpenAPI maps when amp_props is null', () => {
    const body = withData({ amp_props: null, user_properties: { b: 2 } });
    expect(profileOf(body).amp_props).toEqual({ b: 2 });
  });

  it('is null for a list, a string or nothing', () => {
    expect(profileOf(withData({ amp_props: [1, 2] })).amp_props).toBeNull();
    expect(profileOf(withData({ amp_props: 'x' })).amp_props).toBeNull();
    expect(profileOf(withData({})).amp_props).toBeNull();
  });

  it('does not let a "__proto__" key change any prototype', () => {
    const body = JSON.parse(
      '{"userData":{"user_properties":{"__proto__":{"polluted":true}},"computed_properties":{"a":1}}}',
    ) as unknown;
    const props = profileOf(body).amp_props as Record<string, unknown>;
    expect(Object.getPrototypeOf(props)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(props.a).toBe(1);
  });
});

describe('recommendations', () => {
  it('uses the OpenAPI seed child_ids when items is missing', () => {
    const body = withData({ recommendations: [{ rec_id: 'r', child_ids: ['x', 'y'], is_control: false }] });
    expect(profileOf(body).recommendations).toEqual([
      {
        rec_id: 'r',
        child_rec_id: null,
        items: ['x', 'y'],
        is_control: false,
        recommendation_source: null,
        last_updated: null,
      },
    ]);
  });

  it('prefers items over child_ids, and gives [] when neither is a list', () => {
    const body = withData({
      recommendations: [
        { rec_id: 'a', items: ['i'], child_ids: ['c'] },
        { rec_id: 'b', items: null, child_ids: 'c' },
      ],
    });
    expect(profileOf(body).recommendations?.map((r) => r.items)).toEqual([['i'], []]);
  });

  it('coerces odd types and skips entries that are not objects or lack a rec_id', () => {
    const body = withData({
      recommendations: [
        1,
        null,
        'r',
        ['r'],
        { items: ['x'] },
        { rec_id: '', items: ['x'] },
        { rec_id: null },
        {
          rec_id: 7,
          child_rec_id: 8,
          items: [1, 'a', null, {}, false, 'b'],
          is_control: 'TRUE',
          recommendation_source: 5,
          last_updated: '1608670720',
          title: 'ignored',
          recommendation_type: 'ignored',
        },
        {
          rec_id: 'r2',
          child_rec_id: {},
          items: 'cookie',
          is_control: 'no',
          recommendation_source: null,
          last_updated: 'yesterday',
        },
        { rec_id: 'r3', is_control: 'false', last_updated: '' },
      ],
    });
    expect(profileOf(body).recommendations).toEqual([
      {
        rec_id: '7',
        child_rec_id: '8',
        items: ['1', 'a', 'b'],
        is_control: true,
        recommendation_source: null,
        last_updated: 1608670720,
      },
      {
        rec_id: 'r2',
        child_rec_id: null,
        items: [],
        is_control: null,
        recommendation_source: null,
        last_updated: null,
      },
      {
        rec_id: 'r3',
        child_rec_id: null,
        items: [],
        is_control: false,
        recommendation_source: null,
        last_updated: null,
      },
    ]);
  });

  it('is null when null, missing or not a list (the baseline case)', () => {
    expect(profileOf(withData({ recommendations: null })).recommendations).toBeNull();
    expect(profileOf(withData({})).recommendations).toBeNull();
    expect(profileOf(withData({ recommendations: { rec_id: 'r' } })).recommendations).toBeNull();
  });

  it('keeps an empty list empty', () => {
    expect(profileOf(withData({ recommendations: [] })).recommendations).toEqual([]);
  });
});

describe('ids and wrong types', () => {
  it('keeps string ids only', () => {
    expect(profileOf(withData({ user_id: 12345, device_id: {} }))).toEqual(profile({}));
    expect(profileOf(withData({ user_id: '', device_id: 'd' }))).toEqual(profile({ user_id: '', device_id: 'd' }));
  });

  it('ignores unknown fields', () => {
    expect(profileOf(withData({ user_id: 'u', amplitude_id: 42, extra: { deep: [1] } }))).toEqual(
      profile({ user_id: 'u' }),
    );
  });

  it('never throws, whatever sits in each field', () => {
    const odd: unknown[] = [
      undefined,
      null,
      0,
      -1,
      Number.NaN,
      Infinity,
      '',
      'x',
      true,
      [],
      [null],
      [[]],
      [{}],
      {},
      { rec_id: {} },
      Object.create(null),
    ];
    const fields = [
      'user_id',
      'device_id',
      'recommendations',
      'propensity',
      'propensities',
      'predictions',
      'cohort_ids',
      'cohort_memberships',
      'amp_props',
      'user_properties',
      'computed_properties',
    ];
    const queries = [query(), query({ predictionIds: ['p'] }), query({ predictionIds: ['p'], propensityType: 'pct' })];
    for (const field of fields) {
      for (const value of odd) {
        for (const q of queries) {
          expect(() => normalizeBody(withData({ [field]: value }), q)).not.toThrow();
        }
      }
    }
  });
});

describe('normalizeBody: what the body means', () => {
  it('reads the "not seen before" error as an unknown user, trimmed and case-insensitive', () => {
    expect(normalizeBody({ error: UNKNOWN_USER_ERROR }, query())).toEqual({ kind: 'unknown_user' });
    // The body exactly as Amplitude's "User Profile API" page prints it.
    expect(normalizeBody(JSON.parse('{"error":"User id and device id not seen before"}'), query())).toEqual({
      kind: 'unknown_user',
    });
    expect(normalizeBody({ error: `  ${UNKNOWN_USER_ERROR.toUpperCase()}\n` }, query())).toEqual({
      kind: 'unknown_user',
    });
  });

  it('is null for other errors, the throttle body and non-profile bodies', () => {
    for (const body of [
      { error: THROTTLED_ERROR },
      { error: INVALID_KEY_ERROR },
      { error: `${UNKNOWN_USER_ERROR}!` },
      { error: 42 },
      {},
      { data: {} },
      { userData: null },
      { userData: [] },
      { userData: 'x' },
      null,
      undefined,
      'User id and device id not seen before',
      42,
      [],
      [{ userData: {} }],
    ]) {
      expect(normalizeBody(body, query())).toBeNull();
    }
  });

  it('takes an empty userData as a profile with nothing in it', () => {
    expect(normalizeBody({ userData: {} }, query())).toEqual({ kind: 'profile', profile: profile({}) });
  });
});

describe('isThrottleBody and errorText', () => {
  it('recognises the throttle body (the Amplitude "User Profile API" page), trimmed and case-insensitive', () => {
    expect(isThrottleBody(JSON.parse(`{"error":"${THROTTLED_ERROR}"}`))).toBe(true);
    expect(isThrottleBody({ error: ` ${THROTTLED_ERROR.toLowerCase()} ` })).toBe(true);
  });

  it('recognises the first sentence alone, in case the advice after it is reworded', () => {
    const firstSentence = THROTTLED_ERROR.slice(0, THROTTLED_ERROR.indexOf('.'));
    expect(isThrottleBody({ error: firstSentence })).toBe(true);
    expect(isThrottleBody({ error: `${firstSentence}. Please slow down.` })).toBe(true);
  });

  it('is false for anything else', () => {
    for (const body of [
      { error: UNKNOWN_USER_ERROR },
      { error: 'Number of requests' },
      { error: null },
      { userData: {} },
      THROTTLED_ERROR,
      null,
      [],
    ]) {
      expect(isThrottleBody(body)).toBe(false);
    }
  });

  it('errorText returns the error field as sent, or null', () => {
    expect(errorText({ error: ' Oops ' })).toBe(' Oops ');
    expect(errorText({ error: UNKNOWN_USER_ERROR })).toBe(UNKNOWN_USER_ERROR);
    expect(errorText({ error: { message: 'x' } })).toBeNull();
    expect(errorText({ userData: {} })).toBeNull();
    expect(errorText('Invalid Api-Key')).toBeNull();
    expect(errorText(null)).toBeNull();
  });
});
