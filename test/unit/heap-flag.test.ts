import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SHIPPED_NODE_OPTIONS } from '../../src/shipped.js';
import { ROOT } from '../support/cli.js';

// The memory figures of `npm run bench` are measured with this flag; the ways the CLI is shipped
// must use the same one.
describe('the heap limit the CLI is shipped with', () => {
  it('is in the bin shebang (amp-profile-export, ./dist/cli.js)', () => {
    expect(readFileSync(`${ROOT}/src/cli.ts`, 'utf8').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${SHIPPED_NODE_OPTIONS}`);
  });

  it('is in the Docker ENTRYPOINT', () => {
    const entry = /^ENTRYPOINT (.*)$/m.exec(readFileSync(`${ROOT}/Dockerfile`, 'utf8'))?.[1];
    expect(JSON.parse(entry!)).toEqual(['node', SHIPPED_NODE_OPTIONS, '/app/dist/cli.js']);
  });
});
