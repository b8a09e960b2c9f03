import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { usageError } from '../errors.js';
import { partIndex } from '../sinks/split.js';
import { isLocal, type RunLocation } from './locations.js';

/** A location as the kernel sees it: symlinks resolved, and the inode when the file exists (hard links). */
export interface Resolved extends RunLocation {
  /** Absolute path with every existing symlink resolved; an s3:// URL as given. */
  real: string;
  /** `dev:ino` of an existing file, else null. */
  inode: string | null;
}

/** The path with its existing part resolved: realpath of the deepest existing ancestor, plus the rest. */
export async function resolvePath(path: string): Promise<{ real: string; inode: string | null }> {
  const st = await stat(path).catch(() => null);
  if (st) return { real: await realpath(path), inode: `${st.dev}:${st.ino}` };
  const parent = dirname(path);
  if (parent === path) return { real: path, inode: null };
  return { real: join((await resolvePath(parent)).real, basename(path)), inode: null };
}

function same(a: Resolved, b: Resolved): boolean {
  if (a.real === b.real || (a.inode !== null && a.inode === b.inode)) return true;
  // A split output writes out-00001.csv, ... beside its template: another file named so is one of them.
  const inParts = (split: Resolved, other: Resolved) => split.split === true && dirname(other.real) === dirname(split.real) && partIndex(basename(split.real), basename(other.real)) !== null;
  return inParts(a, b) || inParts(b, a);
}

/**
 * The first two locations that name the same file, where at least one is written: reading
 * one file twice is harmless, writing over the input or one output over another destroys data.
 */
export function findCollision(locations: Resolved[]): [Resolved, Resolved] | null {
  for (let i = 0; i < locations.length; i++) {
    for (let j = i + 1; j < locations.length; j++) {
      const a = locations[i]!;
      const b = locations[j]!;
      if ((a.writes || b.writes) && same(a, b)) return [a, b];
    }
  }
  return null;
}

/** Exit 2 when two of the run's locations are one file, compared after resolving symlinks. */
export async function checkDistinct(locations: RunLocation[]): Promise<void> {
  const resolved = await Promise.all(
    locations.map(async (l): Promise<Resolved> => (isLocal(l) ? { ...l, ...(await resolvePath(l.name)) } : { ...l, real: l.name, inode: null })),
  );
  const hit = findCollision(resolved);
  if (!hit) return;
  const [a, b] = hit;
  const what = a.split || b.split ? `${b.split ? a.flag : b.flag} ${(b.split ? a : b).name} is one of the numbered files the split ${a.split ? a.flag : b.flag} writes` : `${a.flag} and ${b.flag} name the same file (${a.real})`;
  throw usageError(`${what}: every file a run reads or writes must be distinct, or one would overwrite the other`);
}
