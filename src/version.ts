import { readFileSync } from 'node:fs';
import { packageFile } from './package-files.js';

/** The package's version (package.json ships with the package, beside dist/), for summaries. */
export const TOOL_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
