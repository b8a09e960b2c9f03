import { describe, expect, it } from 'vitest';
import { ClockOffset } from '../../src/pipeline/clock-offset.js';

describe('ClockOffset: Redis time onto the local clock', () => {
  // Redis's clock reads 1,000,000 ms when ours reads 500: the true offset is -999,500.
  const TRUE = -999_500;
  const remoteAt = (local: number) => local - TRUE;

  it('maps through the midpoint of the first answer', () => {
    const c = new ClockOffset();
    c.sample(490, 510, remoteAt(500));
    expect(c.toLocal(remoteAt(800))).toBe(800);
  });

  it('keeps the shortest round trip: an answer read late by a busy process does not move the starts', () => {
    const c = new ClockOffset();
    c.sample(1000, 1002, remoteAt(1001));
    // Redis answered at once (its clock read at 2001), but the process read the answer 60 ms later.
    c.sample(2000, 2062, remoteAt(2001));
    expect(c.toLocal(remoteAt(3000))).toBe(3000);
  });

  it('takes a shorter round trip over a longer one', () => {
    const c = new ClockOffset();
    c.sample(1000, 1040, remoteAt(1030)); // midpoint guess 1020: 10 ms off
    expect(c.toLocal(remoteAt(1500))).toBe(1490);
    c.sample(2000, 2002, remoteAt(2001));
    expect(c.toLocal(remoteAt(2500))).toBe(2500);
  });

  it("follows Redis's clock when it steps: a sample the kept offset cannot explain replaces it", () => {
    const c = new ClockOffset();
    c.sample(1000, 1001, remoteAt(1000.5));
    // Redis's wall clock jumped 5 s ahead (NTP step); a slower answer still says so.
    c.sample(2000, 2010, remoteAt(2005) + 5000);
    expect(c.toLocal(remoteAt(3000) + 5000)).toBe(3000);
  });
});
