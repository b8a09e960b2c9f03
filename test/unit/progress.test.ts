import { describe, expect, it } from 'vitest';
import { type Counts, type RequestCounts, zeroCounts, zeroRequests } from '../../src/pipeline/counters.js';
import { formatDuration, formatProgressLine } from '../../src/progress/format.js';
import { ProgressMeter, type ProgressView } from '../../src/progress/meter.js';
import type { ProgressProbe } from '../../src/progress/probe.js';
import { StatusLine } from '../../src/progress/status-line.js';

/** A probe over counters the test moves by hand. */
function fakeRun(inputBytes: number | null, rate = { limit: 600, intervalMs: 60_000 }) {
  const state = { offset: 0, counts: zeroCounts() as Counts, requests: zeroRequests() as RequestCounts, share: 1 };
  const probe: ProgressProbe = {
    position: () => ({ offset: state.offset, counts: { ...state.counts } }),
    requests: state.requests,
    share: () => state.share,
    inputBytes,
    rate,
  };
  /** `users` more users done (all ok), `bytes` more input written through. */
  const advance = (users: number, bytes: number) => {
    state.counts.users += users;
    state.counts.ok += users;
    state.requests.requests += users;
    state.offset += bytes;
  };
  return { state, probe, advance };
}

const view = (over: Partial<ProgressView> = {}): ProgressView => ({
  elapsedSeconds: 60,
  bytesDone: 4_000,
  bytesTotal: 10_000,
  percent: 40,
  users: 1_234,
  ok: 1_200,
  no_recs: 20,
  unknown_user: 10,
  failed: 3,
  skipped: 1,
  usersPerSecond: 9.87,
  requestsPerSecond: 9.9,
  limitPerSecond: 10,
  share: 1,
  etaSeconds: 3_725,
  ...over,
});

describe('ProgressMeter', () => {
  it('reports percent of the input written through, rates over the last ~10 s and an ETA from the byte rate', () => {
    const run = fakeRun(100_000);
    const meter = new ProgressMeter(run.probe, 0);
    for (let s = 1; s <= 30; s++) {
      // 10 users (1,000 bytes) a second for 20 s, then 5 a second (500 bytes).
      run.advance(s <= 20 ? 10 : 5, s <= 20 ? 1000 : 500);
      meter.read(s * 1000);
    }
    const v = meter.read(30_000);
    expect(v.percent).toBe(25);
    expect(v.bytesDone).toBe(25_000);
    expect(v.users).toBe(250);
    expect(v.ok).toBe(250);
    // The last 10 s only: the earlier, faster pace is forgotten.
    expect(v.usersPerSecond).toBe(5);
    expect(v.requestsPerSecond).toBe(5);
    expect(v.etaSeconds).toBe(150); // 75,000 bytes left at 500 a second
    expect(v.limitPerSecond).toBe(10);
    expect(v.elapsedSeconds).toBe(30);
  });

  it('has no percent and no ETA for stdin (no size), but counts and rates', () => {
    const run = fakeRun(null);
    const meter = new ProgressMeter(run.probe, 0);
    meter.read(0);
    run.advance(20, 2000);
    const v = meter.read(2000);
    expect(v.percent).toBeNull();
    expect(v.etaSeconds).toBeNull();
    expect(v.bytesTotal).toBeNull();
    expect(v.usersPerSecond).toBe(10);
  });

  it('shows the adaptive share, and no limit for --rate-limit 0', () => {
    const run = fakeRun(1000, { limit: 0, intervalMs: 60_000 });
    run.state.share = 0.5;
    const v = new ProgressMeter(run.probe, 0).read(0);
    expect(v.limitPerSecond).toBeNull();
    expect(v.share).toBe(0.5);
    expect(v.usersPerSecond).toBe(0); // one sample: no rate yet
  });
});

describe('formatProgressLine', () => {
  it('shows percent, users, users/s, request rate against the limit, ETA and every status count', () => {
    const line = formatProgressLine(view(), 200);
    expect(line).toMatch(/^ 40\.0% █{8}░{12} {2}1,234 users {2}9\.9 users\/s {2}9\.9\/10\.0 req\/s {2}ETA 1h 02m {2}/);
    expect(line).toContain('ok 1,200 · no_recs 20 · unknown 10 · failed 3 · skipped 1');
  });

  it('says when the limiter slowed down after 429s', () => {
    expect(formatProgressLine(view({ share: 0.5, requestsPerSecond: 5 }), 200)).toContain('5.0/10.0 req/s (slowed to 50%)');
  });

  it('stdin: no percent and no ETA; no limit: says so', () => {
    const line = formatProgressLine(view({ percent: null, bytesTotal: null, etaSeconds: null, limitPerSecond: null }), 200);
    expect(line).not.toMatch(/%|ETA/);
    expect(line).toContain('9.9 req/s (no limit)');
  });

  it('never wraps: drops the bar, then the total, then cuts, to fit the terminal', () => {
    for (const columns of [200, 120, 100, 80, 40]) {
      const line = formatProgressLine(view({ users: 12_345_678, ok: 12_000_000 }), columns);
      expect(line.length, `${columns} columns: ${line}`).toBeLessThanOrEqual(columns - 1);
      expect(line).toMatch(/^ 40\.0%/);
    }
    expect(formatProgressLine(view(), 120)).not.toContain('█');
    expect(formatProgressLine(view(), 80)).toMatch(/…$/);
  });

  it('an unknown ETA (nothing written yet) is shown as --', () => {
    expect(formatProgressLine(view({ etaSeconds: null }), 200)).toContain('ETA --');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [42, '42s'],
    [185, '3m 05s'],
    [3725, '1h 02m'],
    [100_000, '1d 03h'],
  ])('%d s -> %s', (s, text) => expect(formatDuration(s)).toBe(text));
});

describe('StatusLine', () => {
  it('clears itself before a log line and redraws in place with \\r and erase-line', () => {
    let written = '';
    const out = { write: (s: string) => ((written += s), true) } as unknown as NodeJS.WritableStream;
    const status = new StatusLine(out);
    status.writeAbove('first log line\n');
    status.draw('50%');
    status.draw('60%');
    status.writeAbove('second log line\n');
    status.clear();
    expect(written).toBe('first log line\n\r50%\x1b[K\r60%\x1b[K\r\x1b[Ksecond log line\n');
  });
});
