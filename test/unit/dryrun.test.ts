import { describe, expect, it } from 'vitest';
import { DAY_SECONDS, estimateDuration, NIGHT_SECONDS } from '../../src/dryrun/estimate.js';
import { murmur32, SeenIds } from '../../src/dryrun/seen-ids.js';

/** MurmurHash3 x86_32 over bytes, straight from the reference (smhasher MurmurHash3.cpp). */
function murmur3Bytes(b: Buffer, seed: number): number {
  let h = seed >>> 0;
  const blocks = b.length >> 2;
  const mixK = (k: number) => Math.imul(((k = Math.imul(k, 0xcc9e2d51)) << 15) | (k >>> 17), 0x1b873593);
  for (let i = 0; i < blocks; i++) {
    h ^= mixK(b.readUInt32LE(i * 4));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const tail = blocks * 4;
  switch (b.length & 3) {
    case 3:
      k ^= b[tail + 2]! << 16;
    // falls through
    case 2:
      k ^= b[tail + 1]! << 8;
    // falls through
    case 1:
      k ^= b[tail]!;
      h ^= mixK(k);
  }
  h ^= b.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

describe('murmur32', () => {
  it('the reference implementation gives the published vectors', () => {
    expect(murmur3Bytes(Buffer.alloc(0), 0)).toBe(0);
    expect(murmur3Bytes(Buffer.alloc(0), 1)).toBe(0x514e28b7);
    expect(murmur3Bytes(Buffer.alloc(0), 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3Bytes(Buffer.from([0x21, 0x43, 0x65, 0x87]), 0)).toBe(0xf55b516b);
  });

  it('is MurmurHash3 x86_32 of the UTF-16LE bytes, odd lengths and non-ASCII included', () => {
    for (const s of ['', 'a', 'ab', 'abc', 'u-1001', 'd-7f3a9c21-1001', 'Zoë', '用户-42', '🙂x']) {
      for (const seed of [0, 0x5bd1e995]) expect(murmur32(s, seed), s).toBe(murmur3Bytes(Buffer.from(s, 'utf16le'), seed));
    }
  });
});

describe('SeenIds', () => {
  it('tells a duplicate from a first sighting, through many doublings', () => {
    const seen = new SeenIds(16);
    const n = 200_000;
    let added = 0;
    for (let i = 0; i < n; i++) if (seen.add(`user-${i}`, 'user')) added++;
    expect(added).toBe(n);
    expect(seen.size).toBe(n);
    let again = 0;
    for (let i = 0; i < n; i += 7) if (!seen.add(`user-${i}`, 'user')) again++;
    expect(again).toBe(Math.ceil(n / 7));
    expect(seen.size).toBe(n);
    // 8 bytes a slot, at most 75 % full.
    expect(seen.bytes).toBe(8 * 2 ** Math.ceil(Math.log2(n / 0.75)));
  });

  it('a user_id and a device_id with the same text are different requests', () => {
    const seen = new SeenIds();
    expect(seen.add('abc', 'user')).toBe(true);
    expect(seen.add('abc', 'device')).toBe(true);
    expect(seen.add('abc', 'device')).toBe(false);
  });
});

describe('estimateDuration', () => {
  const rate = { limit: 600, intervalMs: 60_000 };

  it('is users / (limit / interval)', () => {
    expect(estimateDuration(19, rate)).toMatchObject({ seconds: 2, perSecond: 10, warnings: [] });
    expect(estimateDuration(300, { limit: 100, intervalMs: 1000 })).toMatchObject({ seconds: 3, perSecond: 100 });
  });

  it('fits a night up to 8 h, warns past a night, and past a day (864,000 users at 600 a minute)', () => {
    expect(estimateDuration(NIGHT_SECONDS * 10, rate).warnings).toEqual([]);
    const night = estimateDuration(NIGHT_SECONDS * 10 + 10, rate).warnings;
    expect(night).toHaveLength(1);
    expect(night[0]).toMatch(/longer than a night: 288,010 users at 600 per 60 s take 8h 00m, more than 8 h/);
    expect(estimateDuration(864_000, rate).warnings[0]).toMatch(/longer than a night/);
    expect(DAY_SECONDS * 10).toBe(864_000);
    const day = estimateDuration(864_010, rate).warnings;
    expect(day).toHaveLength(1);
    expect(day[0]).toMatch(/will not fit in a day: 864,010 users .* take 1d 00h, and 864,000 users a day is the most this rate allows/);
    expect(day[0]).toMatch(/org-wide/);
  });

  it('has no estimate without a rate limit', () => {
    expect(estimateDuration(1_000_000, { limit: 0, intervalMs: 60_000 })).toEqual({ seconds: null, perSecond: null, warnings: [] });
  });
});
