import { afterAll } from 'vitest';
import { removeTempDirs } from './cli.js';

// A setup file (vitest.config.ts): runs in each test file, after the file's own afterAll hooks.
afterAll(removeTempDirs);
