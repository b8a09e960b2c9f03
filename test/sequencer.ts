import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Seconds each test file took in a measured run (`project:path`); see LongestFirst. */
const MEASURED = JSON.parse(readFileSync(new URL('./durations.json', import.meta.url), 'utf8')) as Record<string, number>;

/**
 * Test files longest first, so that the four workers finish together. Vitest orders by the
 * durations it cached on the last run (node_modules/.vite), and with no cache, as on a fresh
 * clone (CI), by file size: that left one long file starting late, and `npm test` took 204 s
 * on a fresh clone against 175 s beside a cache. A file the cache does not know takes its time
 * from test/durations.json (refresh it from the cache's results.json after adding files).
 */
export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = (f: TestSpecification) => {
      const key = `${f.project.name}:${relative(this.ctx.config.root, f.moduleId)}`;
      const cached = this.ctx.cache.getFileTestResults(key);
      return cached ? cached.duration / 1000 : (MEASURED[key] ?? 0);
    };
    return [...files].sort((a, b) => a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder || seconds(b) - seconds(a));
  }
}
