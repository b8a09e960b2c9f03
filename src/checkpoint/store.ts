import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { ExitError } from '../errors.js';
import { type Checkpoint, invalidReason } from './state.js';

/**
 * A checkpoint file, replaced atomically: written to a temporary file beside it, fsynced,
 * renamed over the old one, and the directory fsynced, so that a kill at any instant leaves
 * either the old checkpoint or the new one, never a mix.
 */
export class CheckpointFile {
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
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const why = parsed === undefined ? 'not valid JSON (truncated?)' : invalidReason(parsed);
    if (why) {
      throw new ExitError(
        'checkpoint',
        `checkpoint ${this.path} is corrupt (${why}); resuming from it could lose or double rows: rerun with --fresh to start over`,
      );
    }
    return parsed as Checkpoint;
  }

  async save(c: Checkpoint): Promise<void> {
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(c, null, 1));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
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
}
