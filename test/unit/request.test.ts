import { describe, expect, it } from 'vitest';
import {
  buildProfilePath,
  buildQuerySuffix,
  encodeList,
  encodeValue,
  makePathBuilder,
} from '../../src/api/request.js';
import type { ProfileQuery, UserRef } from '../../src/api/types.js';
import { query } from '../support/query.js';


const byUser = (user_id: string): UserRef => ({ user_id, device_id: '' });
const byDevice = (device_id: string): UserRef => ({ user_id: '', device_id });

/** The query of a documented URL, for comparison with what we build. */
function docQuery(url: string): string {
  return url.slice(url.indexOf('?') + 1);
}

function builtQuery(user: UserRef, q: ProfileQuery): string {
  const path = buildProfilePath(user, q);
  expect(path.startsWith('/v1/userprofile?')).toBe(true);
  return docQuery(path);
}

describe('the documented URLs (Braze docs, "Amplitude User Profile API Endpoints": "Common Amplitude endpoints")', () => {
  const testUser = byUser('testUser');
  it.each<[string, ProfileQuery, string]>([
    [
      'Get a recommendation',
      query({ recIds: ['testRecId'] }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=testUser&get_recs=true&rec_id=testRecId',
    ],
    [
      'Get multiple recommendations',
      query({ recIds: ['testRecId', 'testRecId2'] }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=testUser&get_recs=true&rec_id=testRecId,testRecId2',
    ],
    [
      'Get user properties',
      query({ ampProps: true }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=testUser&get_amp_props=true',
    ],
    [
      'Get cohort IDs',
      query({ cohortIds: true }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=testUser&get_cohort_ids=true',
    ],
    [
      'Get a single computation',
      query({ compIds: ['testCompId'] }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=testUser&comp_id=testCompId',
    ],
    [
      'Get all computations',
      query({ computations: true }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=testUser&get_computations=true',
    ],
  ])('%s', (_name, q, url) => {
    expect(builtQuery(testUser, q)).toBe(docQuery(url));
  });
});

describe('the documented curl examples (Amplitude docs, "User Profile API")', () => {
  const user = byUser('USER_ID');
  it.each<[string, ProfileQuery, string]>([
    [
      'Get a recommendation',
      query({ recIds: ['testRecId'] }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=USER_ID&get_recs=true&rec_id=testRecId',
    ],
    [
      'Get multiple recommendations',
      query({ recIds: ['testRecId', 'testRecID2'] }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=USER_ID&get_recs=true&rec_id=testRecId,testRecID2',
    ],
    [
      'Get user properties',
      query({ ampProps: true }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=USER_ID&get_amp_props=true',
    ],
    [
      'Get cohort IDs',
      query({ cohortIds: true }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=USER_ID&get_cohort_ids=true',
    ],
    [
      'Get computation by ID',
      query({ computations: true, compIds: ['COMP_ID'] }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=USER_ID&get_computations=true&comp_id=COMP_ID',
    ],
    [
      'Get single or multiple prediction propensity',
      query({ predictionIds: ['PREDICTION_ID'], propensityType: 'score' }),
      'https://profile-api.amplitude.com/v1/userprofile?user_id=USER_ID&get_propensity=true&prediction_id=PREDICTION_ID&propensity_type=score',
    ],
  ])('%s', (_name, q, url) => {
    expect(builtQuery(user, q)).toBe(docQuery(url));
  });

  it('Get all computations: same parameters; the doc puts user_id last, we always put the id first', () => {
    const doc = 'https://profile-api.amplitude.com/v1/userprofile?get_computations=true&user_id=USER_ID';
    const built = builtQuery(user, query({ computations: true }));
    expect(built).toBe('user_id=USER_ID&get_computations=true');
    expect(built.split('&').sort()).toEqual(docQuery(doc).split('&').sort());
  });

  it('several comp_id and prediction_id are comma-separated (comp_id=id1,id2, prediction_id=id1,id2)', () => {
    expect(builtQuery(user, query({ compIds: ['id1', 'id2'] }))).toBe('user_id=USER_ID&comp_id=id1,id2');
    expect(builtQuery(user, query({ predictionIds: ['id1', 'id2'] }))).toBe(
      'user_id=USER_ID&get_propensity=true&prediction_id=id1,id2',
    );
  });
});

describe('each parameter', () => {
  const u = byUser('u1');

  it('asks for nothing beyond the id by default', () => {
    expect(buildProfilePath(u, query())).toBe('/v1/userprofile?user_id=u1');
  });

  it('sends get_recs only with rec ids', () => {
    expect(builtQuery(u, query({ recIds: [] }))).toBe('user_id=u1');
    expect(builtQuery(u, query({ recIds: ['a'] }))).toBe('user_id=u1&get_recs=true&rec_id=a');
  });

  it('sends rec_type only when set', () => {
    expect(builtQuery(u, query({ recIds: ['a'], recType: 'model' }))).toBe(
      'user_id=u1&get_recs=true&rec_id=a&rec_type=model',
    );
    expect(builtQuery(u, query({ recIds: ['a'], recType: 'random' }))).toBe(
      'user_id=u1&get_recs=true&rec_id=a&rec_type=random',
    );
    expect(builtQuery(u, query({ recIds: ['a'], recType: undefined }))).toBe('user_id=u1&get_recs=true&rec_id=a');
  });

  it('sends comp_id with or without get_computations', () => {
    expect(builtQuery(u, query({ compIds: ['c'] }))).toBe('user_id=u1&comp_id=c');
    expect(builtQuery(u, query({ computations: true, compIds: ['c'] }))).toBe(
      'user_id=u1&get_computations=true&comp_id=c',
    );
  });

  it('sends get_propensity with prediction ids, and propensity_type only with them', () => {
    expect(builtQuery(u, query({ predictionIds: ['p'], propensityType: 'pct' }))).toBe(
      'user_id=u1&get_propensity=true&prediction_id=p&propensity_type=pct',
    );
    expect(builtQuery(u, query({ predictionIds: ['p'] }))).toBe('user_id=u1&get_propensity=true&prediction_id=p');
    expect(builtQuery(u, query({ propensityType: 'score' }))).toBe('user_id=u1');
  });

  it('keeps one fixed order whatever the order of the query object', () => {
    const all = query({
      predictionIds: ['p', 'q'],
      propensityType: 'score',
      compIds: ['c1', 'c2'],
      computations: true,
      cohortIds: true,
      ampProps: true,
      recType: 'model',
      recIds: ['a', 'b'],
    });
    const expected =
      'user_id=u1&get_recs=true&rec_id=a,b&rec_type=model&get_amp_props=true&get_cohort_ids=true' +
      '&get_computations=true&comp_id=c1,c2&get_propensity=true&prediction_id=p,q&propensity_type=score';
    expect(builtQuery(u, all)).toBe(expected);
    const reordered: ProfileQuery = {
      recIds: ['a', 'b'],
      recType: 'model',
      ampProps: true,
      cohortIds: true,
      computations: true,
      compIds: ['c1', 'c2'],
      predictionIds: ['p', 'q'],
      propensityType: 'score',
    };
    expect(builtQuery(u, reordered)).toBe(expected);
  });

  it('follows the request of Amplitude help "Use recommendations in personalization campaigns" with the current parameter names', () => {
    // That article (help.amplitude.com/hc/en-us/articles/360059626072) writes `user_id=myuser&rec_id=s234ssg&get_amp_props=true&prediction_id=t456tth&get_cohorts=true`,
    // an older form: today's reference (the Amplitude and Braze API pages) wants get_recs, get_cohort_ids, get_propensity.
    const q = query({ recIds: ['s234ssg'], ampProps: true, cohortIds: true, predictionIds: ['t456tth'] });
    expect(builtQuery(byUser('myuser'), q)).toBe(
      'user_id=myuser&get_recs=true&rec_id=s234ssg&get_amp_props=true&get_cohort_ids=true' +
        '&get_propensity=true&prediction_id=t456tth',
    );
  });
});

describe('which id is sent', () => {
  it('falls back to device_id when the row has no user_id', () => {
    expect(buildProfilePath(byDevice('ffff-ffff-ffff-ffff'), query())).toBe(
      '/v1/userprofile?device_id=ffff-ffff-ffff-ffff',
    );
  });

  it('prefers user_id when both exist, and never sends both', () => {
    const path = buildProfilePath({ user_id: 'testUser', device_id: 'ffff' }, query({ ampProps: true }));
    expect(path).toBe('/v1/userprofile?user_id=testUser&get_amp_props=true');
    expect(path).not.toContain('device_id');
  });

  it('sends device_id= when the row has neither (sources should reject such rows)', () => {
    expect(buildProfilePath({ user_id: '', device_id: '' }, query())).toBe('/v1/userprofile?device_id=');
  });

  it('sends ids as given, without trimming', () => {
    expect(buildProfilePath(byUser(' u '), query())).toBe('/v1/userprofile?user_id=%20u%20');
  });
});

describe('encoding awkward ids', () => {
  it.each<[string, string]>([
    ['john doe', 'john%20doe'],
    ['a&b=c', 'a%26b%3Dc'],
    ['a+b', 'a%2Bb'],
    ['a,b', 'a%2Cb'],
    ['x#y', 'x%23y'],
    ['a/b?c', 'a%2Fb%3Fc'],
    ['100%', '100%25'],
    ['josé', 'jos%C3%A9'],
    ['ユーザー', '%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC'],
    ['😀', '%F0%9F%98%80'],
    ['user@example.com', 'user%40example.com'],
    ["a-b_c.d!e~f*g'h(i)", "a-b_c.d!e~f*g'h(i)"],
  ])('user_id %j -> %s', (id, encoded) => {
    expect(buildProfilePath(byUser(id), query())).toBe(`/v1/userprofile?user_id=${encoded}`);
    expect(buildProfilePath(byDevice(id), query())).toBe(`/v1/userprofile?device_id=${encoded}`);
  });

  it('round-trips through URL parsing', () => {
    const id = 'a b&c+d,e#f/g=h?i%j ü 😀';
    const url = new URL('https://profile-api.amplitude.com' + buildProfilePath(byUser(id), query()));
    expect(url.searchParams.get('user_id')).toBe(id);
    expect([...url.searchParams.keys()]).toEqual(['user_id']);
  });

  it('encodes each list element but joins with a literal comma', () => {
    expect(encodeList(['a,b', 'c d', 'e&f', 'ü'])).toBe('a%2Cb,c%20d,e%26f,%C3%BC');
    expect(encodeList([])).toBe('');
    expect(encodeList(['only'])).toBe('only');
    expect(builtQuery(byUser('u'), query({ recIds: ['rec 1', 'rec,2'], compIds: ['c&1'], predictionIds: ['p+1'] }))).toBe(
      'user_id=u&get_recs=true&rec_id=rec%201,rec%2C2&comp_id=c%261&get_propensity=true&prediction_id=p%2B1',
    );
  });

  it('replaces a lone surrogate with U+FFFD instead of throwing', () => {
    expect(encodeValue('a\uD800b')).toBe('a%EF%BF%BDb');
    expect(encodeValue('\uDC00')).toBe('%EF%BF%BD');
    expect(buildProfilePath(byUser('x\uD83D'), query())).toBe('/v1/userprofile?user_id=x%EF%BF%BD');
  });
});

describe('makePathBuilder', () => {
  it('gives the same bytes as buildProfilePath, for every user', () => {
    const q = query({ recIds: ['a', 'b'], ampProps: true, predictionIds: ['p'], propensityType: 'pct' });
    const build = makePathBuilder(q);
    for (const user of [byUser('u1'), byDevice('d 1'), { user_id: 'ü', device_id: 'd' }]) {
      expect(build(user)).toBe(buildProfilePath(user, q));
    }
    expect(build(byUser('u1'))).toBe(`/v1/userprofile?user_id=u1${buildQuerySuffix(q)}`);
  });

  it('reads the query once: later changes to it do not leak into the builder', () => {
    const q = query({ recIds: ['a'] });
    const build = makePathBuilder(q);
    q.recIds.push('b');
    q.ampProps = true;
    expect(build(byUser('u'))).toBe('/v1/userprofile?user_id=u&get_recs=true&rec_id=a');
  });
});
