import { describe, expect, it } from 'vitest';
import { isStale, leaseAgeMs, renewEveryMs } from '../../src/claim/lease-age.js';
import { parseHolder, refusal } from '../../src/claim/holder.js';

describe('lease age', () => {
  it("is measured on S3's clock (Last-Modified against the answer's Date), not this host's", () => {
    const local = new Date('2030-01-01T00:00:00Z'); // a host clock far off
    expect(leaseAgeMs(new Date('2026-12-03T02:00:00Z'), new Date('2026-12-03T02:00:30Z'), local)).toBe(30_000);
  });

  it("falls back to this host's clock without a Date header, and calls a lease without a date stale", () => {
    expect(leaseAgeMs(new Date('2026-12-03T02:00:00Z'), undefined, new Date('2026-12-03T02:01:00Z'))).toBe(60_000);
    expect(isStale(leaseAgeMs(undefined, undefined, new Date()), 120)).toBe(true);
  });

  it('is stale only past the lease time plus the second that HTTP dates round to', () => {
    expect(isStale(121_000, 120)).toBe(false);
    expect(isStale(121_001, 120)).toBe(true);
    expect(renewEveryMs(120)).toBe(30_000);
  });
});

describe('holder record', () => {
  it('reads back what a holder wrote and nothing else', () => {
    const h = { host: 'h', pid: 7, since: '2026-12-03T02:00:00.000Z', job: '/d/cp.json', leaseSeconds: 120, renewal: 3 };
    expect(parseHolder(JSON.stringify(h))).toEqual({ host: 'h', pid: 7, since: h.since, job: '/d/cp.json', leaseSeconds: 120 });
    expect(parseHolder('')).toBeNull();
    expect(parseHolder('{"host":"h"')).toBeNull();
  });

  it('says a record it cannot read as such rather than inventing a holder', () => {
    expect(refusal('checkpoint', '/d/cp.json', null, '')).toBe('another run of this job holds the checkpoint /d/cp.json: a run whose lock record cannot be read; this run wrote nothing and sent no request');
  });
});
