import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // e2e tests spawn dist/cli.js (built by `npm test` first) against the emulator on loopback.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: rate-limit tests measure windows at the emulator, keep the machine calm.
    maxWorkers: 2,
  },
});
