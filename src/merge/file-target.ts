import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { outputError } from '../errors.js';

/**
 * Where `merge` writes. Nothing is visible at the final name before `commit()`; `abort()`
 * leaves no trace of the attempt (and never throws), so an import job never picks up half a file.
 */
export interface MergeTarget {
  readonly name: string;
  write(buf: Buffer): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** A local file: a hidden temporary file beside it, fsynced, then renamed over it. */
export async function openFileTarget(path: string): Promise<MergeTarget> {
  const out = resolve(path);
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  let fh: FileHandle;
  try {
    await mkdir(dirname(out), { recursive: true });
    fh = await open(tmp, 'w', 0o644);
  } catch (err) {
    throw outputError(`merge: --output ${out}: ${(err as Error).message}`);
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  return {
    name: out,
    async write(buf) {
      await fh.write(buf);
    },
    async commit() {
      await fh.sync();
      await close();
      await rename(tmp, out);
    },
    async abort() {
      await close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
    },
  };
}
