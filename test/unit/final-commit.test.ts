import { describe, expect, it } from 'vitest';
import { ExitError } from '../../src/errors.js';
import { finalCommit } from '../../src/export.js';
import { createLogger } from '../../src/log.js';

const lines: string[] = [];
const log = createLogger({ level: 'warn', write: (l) => lines.push(l) });
const failing = (times: number) => {
  let calls = 0;
  return {
    commit: async () => {
      calls++;
      if (calls <= times) throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    },
    calls: () => calls,
  };
};

describe('the final checkpoint', () => {
  it('is retried through a passing storage hiccup', async () => {
    const f = failing(2);
    await expect(finalCommit(f.commit, log, [0, 0, 0])).resolves.toBeUndefined();
    expect(f.calls()).toBe(3);
    expect(lines.filter((l) => l.includes('final checkpoint write failed; retrying'))).toHaveLength(2);
  });

  it('still failing: exit 5 with one line saying the rerun resumes, not an unexpected error', async () => {
    const f = failing(99);
    const err = await finalCommit(f.commit, log, [0, 0, 0]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExitError);
    expect((err as ExitError).exitCode).toBe(5);
    expect((err as ExitError).message).toMatch(/writing the final checkpoint failed 4 times \(write EPIPE\); rerun the same command to resume/);
    expect(f.calls()).toBe(4);
  });
});
