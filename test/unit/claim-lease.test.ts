import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Access } from '../../src/aws/s3client.js';
import { parseS3Url, type S3Location } from '../../src/aws/s3url.js';
import type { Holder } from '../../src/claim/holder.js';
import { type LeaseAttempt, takeLease } from '../../src/claim/s3-lease.js';
import { createLogger } from '../../src/log.js';
import { type ConditionalS3, startConditionalS3 } from '../support/s3-conditional.js';
import { type LocalS3, startS3 } from '../support/s3.js';

// fauxqs ignores If-None-Match / If-Match: every test here goes through the stand-in in front of
// it that answers 412 as S3 does (test/support/s3-conditional.ts).
let s3: LocalS3;
let proxy: ConditionalS3;
let access: S3Access;
const log = createLogger({ level: 'silent' });
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await startS3('jobs');
  proxy = await startConditionalS3(s3.endpoint, s3.env);
  Object.assign(process.env, proxy.env);
  access = await S3Access.create({ pathStyle: true, partSize: 5 * 1024 * 1024 });
});
afterAll(async () => {
  access?.destroy();
  process.env = saved;
  await proxy?.close();
  await s3?.stop();
});

let n = 0;
const place = () => parseS3Url(`s3://jobs/night-${++n}/.out.csv.checkpoint.json.lease`) as S3Location;
const run = (pid: number, host = 'host-a'): Holder => ({ host, pid, since: '2026-12-03T02:00:00.000Z', job: 's3://jobs/out.csv.checkpoint.json' });
const held = (r: LeaseAttempt) => {
  if (!('held' in r)) throw new Error(`expected the lease, got refused by ${JSON.stringify(r.refused)}`);
  return r.held;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('S3 lease (through the conditional-write stand-in)', () => {
  it('refuses a second run while the first holds the lease, naming the first; released, the next run takes it', async () => {
    const loc = place();
    const first = held(await takeLease(access, loc, run(111), { leaseSeconds: 120, force: false, log }));
    const second = await takeLease(access, loc, run(222, 'host-b'), { leaseSeconds: 120, force: false, log });
    expect(second).toMatchObject({ refused: run(111), leaseSeconds: 120 });
    expect(proxy.refused).toBeGreaterThan(0);
    await first.release();
    expect(await s3.exists('jobs', loc.key)).toBe(false);
    const third = held(await takeLease(access, loc, run(333), { leaseSeconds: 120, force: false, log }));
    await third.release();
  });

  it('takes over a lease left unrenewed for longer than the lease time its holder wrote, naming that holder', async () => {
    const loc = place();
    // What a killed run leaves: its lease, never renewed again.
    await s3.put('jobs', loc.key, JSON.stringify({ ...run(999, 'vanished-host'), leaseSeconds: 1 }));
    const early = await takeLease(access, loc, run(111), { leaseSeconds: 120, force: false, log });
    expect(early).toMatchObject({ refused: { host: 'vanished-host', pid: 999 } });
    let r: LeaseAttempt = early;
    for (let i = 0; i < 40 && 'refused' in r; i++) {
      await sleep(250);
      r = await takeLease(access, loc, run(111), { leaseSeconds: 120, force: false, log });
    }
    expect(r).toMatchObject({ tookOver: { holder: { host: 'vanished-host', pid: 999 } } });
    await held(r).release();
  });

  it('--take-over-lease takes a fresh lease at once, and the run it was taken from finds it lost and stops', async () => {
    const loc = place();
    const first = held(await takeLease(access, loc, run(111), { leaseSeconds: 3, force: false, log }));
    const second = await takeLease(access, loc, run(222, 'host-b'), { leaseSeconds: 120, force: true, log });
    expect(second).toMatchObject({ tookOver: { holder: { host: 'host-a', pid: 111 } } });
    const reason = await new Promise<unknown>((resolve) => first.lost.addEventListener('abort', () => resolve(first.lost.reason), { once: true }));
    expect(String((reason as Error).message)).toMatch(/^lost the lease s3:\/\/jobs\/.+: another run took it over \(pid 222 on host-b/);
    // The loser's release leaves the winner's lease alone.
    await first.release();
    expect(await s3.exists('jobs', loc.key)).toBe(true);
    await held(second).release();
    expect(await s3.exists('jobs', loc.key)).toBe(false);
  });

  it('keeps a live lease by renewing it: a run waiting past the lease time is still refused', async () => {
    const loc = place();
    const first = held(await takeLease(access, loc, run(111), { leaseSeconds: 2, force: false, log }));
    await sleep(3500);
    expect(first.lost.aborted).toBe(false);
    expect(await takeLease(access, loc, run(222), { leaseSeconds: 2, force: false, log })).toMatchObject({ refused: { pid: 111 } });
    await first.release();
  });
});
