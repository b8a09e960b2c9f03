import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { type Holder, parseHolder } from './holder.js';
import { lockPathOf } from './places.js';

// Loaded on the first lock (about 100 ms on a busy machine), not by every start of the CLI.
let native: typeof import('fs-native-extensions') | undefined;
const tryLock = (fd: number): boolean => (native ??= createRequire(import.meta.url)('fs-native-extensions') as typeof import('fs-native-extensions')).tryLock(fd);

/** A lock this process holds; the kernel drops it when the process ends, however it ends. */
export interface LocalLock {
  readonly path: string;
  release(): void;
}

export type LockAttempt = { held: LocalLock } | { refused: Holder | null; path: string };

/**
 * Takes a lock file (`localLockPath`: `.out.csv.lock` beside `out.csv`): an open-file-description lock
 * (fcntl F_OFD_SETLK, via fs-native-extensions), which the kernel releases when the process
 * dies, SIGKILL included, so no stale lock outlives a run. The file's content (who holds it) is
 * only information for the refused run: the kernel lock alone decides.
 *
 * The lock file is removed at release; a run that opened it just before the removal finds,
 * after locking, that the path names another file (or none) and starts over on the new one.
 */
export function takeLocalLock(path: string, holder: Holder, attempts = 5): LockAttempt {
  mkdirSync(dirname(path), { recursive: true });
  for (let i = 0; ; i++) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    let kept = false;
    try {
      if (!tryLock(fd)) return { refused: readHolder(fd), path };
      if (!samePath(fd, path)) {
        if (i < attempts) continue;
        throw new Error(`the lock file ${path} keeps being replaced`);
      }
      ftruncateSync(fd, 0);
      writeSync(fd, `${JSON.stringify(holder)}\n`, 0);
      kept = true;
      return {
        held: {
          path,
          release: () => {
            // Removed while still locked: see above for the run that opened it meanwhile.
            try {
              unlinkSync(path);
            } catch {
              // gone already: nothing to tidy
            }
            closeSync(fd);
          },
        },
      };
    } finally {
      if (!kept) closeSync(fd);
    }
  }
}

/** The lock file of `target`, beside the real file: two paths to one file (a symlink) meet on one lock. */
export const localLockPath = (target: string): string => lockPathOf(realTarget(target));

function realTarget(target: string): string {
  try {
    return realpathSync(target);
  } catch {
    try {
      return join(realpathSync(dirname(target)), basename(target));
    } catch {
      return target;
    }
  }
}

function samePath(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * The holder writes its record just after it locks: a reader that comes in between sees an
 * empty file, so it looks again a few times before it gives up on naming the holder.
 */
function readHolder(fd: number): Holder | null {
  for (let i = 0; i < 20; i++) {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const h = parseHolder(buf.subarray(0, n).toString('utf8'));
    if (h) return h;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  return null;
}
