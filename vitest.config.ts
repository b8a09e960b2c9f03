import { defineConfig } from 'vitest/config';

/**
 * Tests whose assertions count requests per time window at the emulator, or kill a process at
 * a moment: they run after the rest, one file at a time, so that a CPU busy with other test
 * files (two cores) cannot bunch their requests or delay their processes.
 */
const TIMED = ['test/integration/rate-limit.test.ts', 'test/integration/shared-limit.test.ts', 'test/e2e/resume.test.ts', 'test/e2e/s3.test.ts'];

export default defineConfig({
  test: {
    // e2e tests spawn dist/cli.js (built by `npm test` first) against the emulator on loopback.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'parallel', include: ['test/**/*.test.ts'], exclude: TIMED, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'timed', include: TIMED, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
