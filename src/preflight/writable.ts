import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Why a run could not create or replace `path`, or null if it could: the path must not be a
 * directory, and its nearest existing parent directory must be writable (the run creates
 * missing directories). A dry run checks this so that 2 a.m. does not find out first.
 */
export async function unwritable(path: string): Promise<string | null> {
  const st = await stat(path).catch(() => null);
  if (st?.isDirectory()) return `${path} is a directory`;
  if (st) return (await access(path, constants.W_OK).then(() => true, () => false)) ? null : `${path} is not writable`;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const d = await stat(dir).catch(() => null);
    if (d) {
      if (!d.isDirectory()) return `${dir} is not a directory`;
      return (await access(dir, constants.W_OK).then(() => true, () => false)) ? null : `cannot create files in ${dir}`;
    }
    if (dirname(dir) === dir) return `no existing directory above ${path}`;
  }
}
