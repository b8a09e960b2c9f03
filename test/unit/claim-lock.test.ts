import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimRun, ClaimRefused, releaseClaims } from '../../src/claim/claim.js';
import { type Holder } from '../../src/claim/holder.js';
import { localLockPath, takeLocalLock } from '../../src/claim/local-lock.js';
import { claimPlaces, leaseOf } from '../../src/claim/places.js';
import { createLogger } from '../../src/log.js';
import { tempDir } from '../support/cli.js';

// Open-file-description locks conflict between two opens of one file even in one process, so
// these run in-process; that the kernel drops them when a process is killed is shown by
// test/e2e/claim.test.ts with real processes.
const holder = (pid: number, host = 'host-a'): Holder => ({ host, pid, since: '2026-12-03T02:00:00.000Z', job: '/data/a.checkpoint.json' });
const log = createLogger({ level: 'silent' });

afterEach(() => releaseClaims());

describe('local lock', () => {
  it('refuses a second holder and names the first; released, the lock file is gone and the next run takes it', () => {
    const path = localLockPath(join(tempDir(), 'out.csv'));
    const first = takeLocalLock(path, holder(111));
    expect('held' in first).toBe(true);
    const second = takeLocalLock(path, holder(222));
    expect(second).toEqual({ refused: holder(111), path });
    if ('held' in first) first.held.release();
    expect(existsSync(path)).toBe(false);
    const third = takeLocalLock(path, holder(333));
    expect('held' in third).toBe(true);
    if ('held' in third) third.held.release();
  });

  it('takes over the lock file a killed run left behind: the file is no claim, the kernel lock is', () => {
    const path = localLockPath(join(tempDir(), 'out.csv'));
    writeFileSync(path, JSON.stringify(holder(999, 'crashed-host')));
    const r = takeLocalLock(path, holder(111));
    expect('held' in r).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(holder(111));
    if ('held' in r) r.held.release();
  });

  it('meets a run that writes the same file through a symlinked directory on the same lock', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect(localLockPath(join(dir, 'link', 'out.csv'))).toBe(join(dir, 'real', '.out.csv.lock'));
  });
});

describe('claimPlaces', () => {
  const base = { output: { kind: 'file' as const, path: '/d/out.csv' }, errorsPath: '/d/out.csv.errors.csv', checkpointPath: '/d/out.csv.checkpoint.json', summaryPath: null, metricsPath: '/m/x.prom' };

  it('claims every written location, the checkpoint first', () => {
    expect(claimPlaces(base).map((p) => [p.role, p.name])).toEqual([
      ['checkpoint', '/d/out.csv.checkpoint.json'],
      ['output', '/d/out.csv'],
      ['errors file', '/d/out.csv.errors.csv'],
      ['metrics file', '/m/x.prom'],
    ]);
  });

  it('claims nothing for stdout, and an S3 location through a lease object beside it', () => {
    const places = claimPlaces({ ...base, output: { kind: 'stdio' }, checkpointPath: null, errorsPath: 's3://b/runs/e.csv', metricsPath: null });
    expect(places).toHaveLength(1);
    expect(places[0]).toMatchObject({ role: 'errors file', kind: 's3', lease: { bucket: 'b', key: 'runs/.e.csv.lease', url: 's3://b/runs/.e.csv.lease' } });
    expect(leaseOf({ kind: 's3', bucket: 'b', key: 'top.json', url: 's3://b/top.json' }).key).toBe('.top.json.lease');
  });
});

describe('claimRun', () => {
  const job = (dir: string, name: string, errors: string) => ({
    output: { kind: 'file' as const, path: join(dir, `${name}.csv`) },
    errorsPath: errors,
    checkpointPath: join(dir, `${name}.csv.checkpoint.json`),
    summaryPath: null,
    metricsPath: null,
    leaseSeconds: 120,
    takeOverLease: false,
  });

  it('refuses a second job on a shared errors file with one line naming the file and the holder, and gives back what it took', async () => {
    const dir = tempDir();
    const shared = join(dir, 'errors.csv');
    await claimRun(job(dir, 'a', shared), { s3: undefined, log });
    const err = await claimRun(job(dir, 'b', shared), { s3: undefined, log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClaimRefused);
    expect((err as ClaimRefused).exitCode).toBe(2);
    expect((err as Error).message).toMatch(new RegExp(`^another run is writing the errors file ${shared}: pid ${process.pid} on .+, running since .+ \\(its job: ${join(dir, 'a.csv.checkpoint.json')}\\); this run wrote nothing and sent no request`));
    expect((err as Error).message).not.toContain('\n');
    // b's checkpoint and output locks were given back: b alone (with its own errors file) now runs.
    expect(existsSync(join(dir, '.b.csv.checkpoint.json.lock'))).toBe(false);
    await releaseClaims();
    await claimRun(job(dir, 'b', shared), { s3: undefined, log });
  });

  it('an output that cannot be claimed is exit 2 naming it; a summary that cannot be is left to the end of the run to report', async () => {
    const dir = tempDir();
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    await claimRun({ ...job(dir, 'a', join(dir, 'e.csv')), summaryPath: join(blocker, 's.json') }, { s3: undefined, log });
    await releaseClaims();
    const err = await claimRun({ ...job(dir, 'a', join(dir, 'e.csv')), output: { kind: 'file', path: join(blocker, 'out.csv') } }, { s3: undefined, log }).catch((e: unknown) => e);
    expect((err as { exitCode?: number }).exitCode).toBe(2);
    expect((err as Error).message).toMatch(new RegExp(`^cannot claim the output ${join(blocker, 'out.csv')}: .*(EEXIST|ENOTDIR)`));
  });

  it('one location named twice in a run is claimed once (the distinct-paths check reports it)', async () => {
    const dir = tempDir();
    await claimRun(job(dir, 'a', join(dir, 'a.csv')), { s3: undefined, log });
  });
});
