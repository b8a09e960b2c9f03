import { fileURLToPath } from 'node:url';

/**
 * A file the package ships beside its code (package.json, fixtures/). Every module that reads one
 * goes through here: this module sits one folder below the package root both as a source
 * (src/package-files.ts, run by tsx and the tests) and once bundled (dist/cli.js and its chunks),
 * so a path relative to it is right in both.
 */
export const packageFile = (rel: string): string => fileURLToPath(new URL(`../${rel}`, import.meta.url));
