import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/sequencer.js';

/**
 * Three tiers (README, "Development"):
 * - quick: unit tests and in-process integration tests (the emulator on 127.0.0.1:0, fauxqs,
 *   the TypeScript checker), no build needed: `npm run test:quick`, the edit-test loop.
 * - e2e: spawn the built dist/cli.js against the emulator and real servers. Their kill tests
 *   kill at seeded progress points (users asked), not at wall-clock moments, so they share
 *   the CPU with other files like the rest.
 * - timed: tests whose assertions count requests per time window at the emulator run after
 *   the rest, side by side with each other only (they idle on their rate windows), so that a
 *   CPU busy with other files (two cores) cannot bunch their requests.
 * `npm test` builds, then runs all three.
 */
const QUICK = ['test/unit/**/*.test.ts', 'test/integration/emulator.test.ts', 'test/integration/emulator-command.test.ts'];
const TIMED = ['test/integration/rate-limit.test.ts', 'test/integration/shared-limit.test.ts', 'test/e2e/clock-step.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Four files at a time on two cores: e2e files spend part of their time waiting on rate
    // windows and child processes (measured, npm test: 247 s with two, 213 s with three,
    // 192 s with four, 228 s with five).
    maxWorkers: 4,
    // One worker process serves file after file (vitest's import of the runtime and of src/
    // is paid once per worker, not once per file: the quick tier 27 s -> 17 s). Tests keep
    // their state in their own files; the few that touch process.env put it back.
    isolate: false,
    // Longest files first, from vitest's cache or, on a fresh clone, test/durations.json.
    sequence: { sequencer: LongestFirst },
    // Every test file removes the temp directories it made (tempDir in test/support/cli.ts).
    setupFiles: ['test/support/cleanup.ts'],
    projects: [
      { extends: true, test: { name: 'quick', include: QUICK, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'e2e', include: ['test/**/*.test.ts'], exclude: [...QUICK, ...TIMED], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'timed', include: TIMED, sequence: { groupOrder: 1 } } },
    ],
  },
});
