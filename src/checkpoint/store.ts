import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { needS3, type S3Access } from '../aws/s3client.js';
import { isS3Url, parseS3Url } from '../aws/s3url.js';
import { ExitError } from '../errors.js';
import { type Checkpoint, type CheckpointStore, parseCheckpoint } from './state.js';

export type { CheckpointStore };


/** The store for `--checkpoint` (validated by config.ts: an s3:// URL there names an object). */
export async function openCheckpointStore(path: string, s3: S3Access | undefined): Promise<CheckpointStore> {
  if (!isS3Url(path)) return new CheckpointFile(path);
  const loc = parseS3Url(path);
  if (typeof loc === 'string') throw new Error(`--checkpoint ${path}: ${loc}`);
  const { CheckpointS3 } = await import('./s3store.js');
  return new CheckpointS3(needS3(s3), loc);
}

/**
 * A checkpoint file, replaced atomically: written to a temporary file beside it, fsynced,
 * renamed over the old one, and the directory fsynced, so that a kill at any instant leaves
 * either the old checkpoint or the new one, never a mix. A save that fails removes its
 * temporary file; the first save removes those of killed runs.
 */
export class CheckpointFile implements CheckpointStore {
  constructor(readonly path: string) {}

  /** undefined when there is none; a refused ExitError when it cannot be trusted. */
  async load(): Promise<Checkpoint | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ExitError('checkpoint', `cannot read checkpoint ${this.path}: ${(err as NodeJS.ErrnoException).code}`);
    }
    return parseCheckpoint(text, this.path);
  }

  private dirMade = false;

  async save(c: Checkpoint): Promise<void> {
    // Like the output's: `--checkpoint state/x.json` creates state/ on the first save.
    if (!this.dirMade) {
      await mkdir(dirname(this.path), { recursive: true });
      await this.removeStaleTemps();
      this.dirMade = true;
    }
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify(c, null, 1));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      // A full disk or a failed rename must not leave a partial copy beside the checkpoint.
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }

  /**
   * Temporary files of earlier runs killed while saving (SIGKILL, out of memory): removed when
   * the process named in them no longer runs here. One that runs (or that this host cannot
   * tell about) keeps its file.
   */
  private async removeStaleTemps(): Promise<void> {
    const prefix = `.${basename(this.path)}.`;
    const names = await readdir(dirname(this.path)).catch(() => []);
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
      const pid = Number(name.slice(prefix.length, -'.tmp'.length));
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || running(pid)) continue;
      await rm(join(dirname(this.path), name), { force: true }).catch(() => undefined);
    }
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
