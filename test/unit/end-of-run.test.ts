import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, type ExportArgs } from '../../src/config.js';
import { exportDefaults } from '../../src/flags.js';
import { endOfRun } from '../../src/report/end.js';
import { tempDir } from '../support/cli.js';

describe('endOfRun', () => {
  // The run checks its files first (exit 2); a summary directory that goes away during the
  // run is only found here, after the export itself is done.
  it('a summary that became unwritable during the run: one complaint, and exit 0 becomes 1', async () => {
    const d = tempDir();
    mkdirSync(join(d, 'reports'));
    const cfg = buildConfig({ ...exportDefaults(), input: join(d, 'in.csv'), output: join(d, 'out.csv'), summary: join(d, 'reports', 'summary.json') } as ExportArgs, new Date(), {});
    rmSync(join(d, 'reports'), { recursive: true });
    writeFileSync(join(d, 'reports'), 'a file now');
    const complaints: string[] = [];
    const counts = { users: 3, ok: 3, no_recs: 0, unknown_user: 0, failed: 0, skipped: 0, rows: 3 };
    const result = { exitCode: 0 as const, ended: 'complete' as const, counts, requests: { requests: 3, retries: 0, throttled: 0, slowdowns: 0, firstAt: 0, lastAt: 10 }, durationMs: 10, outputBytes: 10 };
    const summary = await endOfRun(cfg, { result, exitCode: 0, startedAt: new Date() }, undefined, { error: (m: string) => complaints.push(m), warn: (m: string) => complaints.push(m) });
    expect(summary.exitCode).toBe(1);
    expect(summary.users).toBe(3);
    expect(complaints).toEqual([expect.stringMatching(/could not write the run summary/)]);
  });
});
