import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type LocalLock, takeLocalLock } from './claim/local-lock.js';
import { thisRun } from './claim/holder.js';

/** What a run keeps in the OS temporary directory: an s3:// state's local copy, staged users, ... */
export type TempKind = 'state' | 'staging' | 'removed' | 'dry-state';

/** A directory of this run's; `remove()` deletes it (and is safe to call twice). */
export interface RunTempDir {
  readonly path: string;
  remove(): Promise<void>;
}

const PREFIX = 'ape-';
/** Where a directory is made before it gets its `ape-` name (a crash there leaves only a lock file). */
const NEW = '.ape-new-';
const LOCK = '.lock';
/** A `.ape-new-` directory younger than this may be one being made right now. */
const NEW_GRACE_MS = 10 * 60_000;

/**
 * Makes `$TMPDIR/ape-<kind>-XXXXXX`, holding a lock file that this process keeps locked until it
 * removes the directory. The kernel drops the lock when the process dies, however it dies, so a
 * later run can tell a killed run's leftovers (a million-user state copy is 235 MB) from a live
 * run's directory: `sweepDeadTempDirs`. The directory is made under another name, locked, then
 * renamed: no `ape-` directory is ever seen without its lock held.
 */
export async function runTempDir(kind: TempKind, root = tmpdir()): Promise<RunTempDir> {
  const fresh = await mkdtemp(join(root, NEW));
  let lock: LocalLock;
  try {
    const t = takeLocalLock(join(fresh, LOCK), thisRun(null));
    if (!('held' in t)) throw new Error(`${fresh}: its lock file is locked by another process`);
    lock = t.held;
  } catch (err) {
    await rm(fresh, { recursive: true, force: true });
    throw err;
  }
  const path = join(root, `${PREFIX}${kind}-${basename(fresh).slice(NEW.length)}`);
  await rename(fresh, path);
  let removed = false;
  return {
    path,
    async remove() {
      if (removed) return;
      removed = true;
      try {
        await rm(path, { recursive: true, force: true });
      } finally {
        lock.release();
      }
    },
  };
}

/**
 * Removes the directories `runTempDir` made for runs that have died since (SIGKILL, OOM kill,
 * power loss): those whose lock file nobody holds. A live run's directory is left alone, on
 * this host or another sharing the directory (the lock is the kernel's); so are directories
 * without a lock file (an older release's, or not this tool's). Returns the names removed.
 */
export async function sweepDeadTempDirs(root = tmpdir(), now = Date.now()): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const made = name.startsWith(NEW);
    if (!made && !name.startsWith(PREFIX)) continue;
    const dir = join(root, name);
    const lockPath = join(dir, LOCK);
    if (!existsSync(lockPath)) continue;
    if (made && now - (await stat(dir).then((s) => s.mtimeMs, () => now)) < NEW_GRACE_MS) continue;
    let t: ReturnType<typeof takeLocalLock>;
    try {
      t = takeLocalLock(lockPath, thisRun(null));
    } catch {
      continue; // removed meanwhile by its owner, or not ours to touch
    }
    if (!('held' in t)) continue;
    try {
      await rm(dir, { recursive: true, force: true });
      removed.push(name);
    } finally {
      t.held.release();
    }
  }
  return removed;
}
