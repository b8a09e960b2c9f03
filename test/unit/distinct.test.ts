import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCollision, resolvePath, type Resolved } from '../../src/preflight/distinct.js';
import { tempDir } from '../support/cli.js';

const loc = (flag: string, real: string, writes = true, extra: Partial<Resolved> = {}): Resolved => ({ flag, name: real, real, inode: null, writes, ...extra });

describe('findCollision', () => {
  it('finds a written file named twice, and lets a file be read twice', () => {
    expect(findCollision([loc('--input', '/d/in.csv', false), loc('--output', '/d/o.csv')])).toBeNull();
    expect(findCollision([loc('--input', '/d/in.csv', false), loc('--output', '/d/in.csv')])?.map((l) => l.flag)).toEqual(['--input', '--output']);
    expect(findCollision([loc('--input', '/d/a', false), loc('--input', '/d/a', false)])).toBeNull();
  });

  it('treats two paths with one inode (a hard link) as one file', () => {
    expect(findCollision([loc('--input', '/d/a', false, { inode: '1:2' }), loc('--errors', '/d/b', true, { inode: '1:2' })])).not.toBeNull();
  });

  it("knows a split output's numbered files, and nothing else beside it", () => {
    const split = loc('--output', '/d/out.csv', true, { split: true });
    expect(findCollision([split, loc('--errors', '/d/out-00007.csv')])).not.toBeNull();
    expect(findCollision([split, loc('--errors', '/d/out-7.csv')])).toBeNull();
    expect(findCollision([split, loc('--errors', '/e/out-00007.csv')])).toBeNull();
  });
});

describe('resolvePath', () => {
  it('resolves symlinked files and directories, also for a file not yet created', async () => {
    const d = tempDir();
    mkdirSync(join(d, 'real'));
    writeFileSync(join(d, 'real', 'in.csv'), 'user_id\n');
    symlinkSync(join(d, 'real'), join(d, 'alias'));
    symlinkSync(join(d, 'real', 'in.csv'), join(d, 'link.csv'));
    const target = await resolvePath(join(d, 'real', 'in.csv'));
    expect(await resolvePath(join(d, 'link.csv'))).toEqual(target);
    expect(await resolvePath(join(d, 'alias', 'in.csv'))).toEqual(target);
    expect((await resolvePath(join(d, 'alias', 'new', 'x.csv'))).real).toBe(join(target.real, '..', 'new', 'x.csv'));
  });
});
