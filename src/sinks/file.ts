import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { storageError } from '../errors.js';
import type { Sink } from './sink.js';
import { Utf8Blocks } from './utf8-blocks.js';

/** Buffered bytes before a write is due: large enough to amortise syscalls. */
const HIGH_WATER = 256 * 1024;

/**
 * Appends to a local file. Opened at `resumeAt` bytes (a resume truncates the file to its
 * committed length, dropping whatever was written after the last checkpoint) or fresh.
 * Memory: at most HIGH_WATER bytes plus one user's rows are buffered.
 */
export class FileSink implements Sink {
  private readonly pending = new Utf8Blocks();
  private written: number;
  private accepted: number;

  private constructor(
    readonly name: string,
    private fh: FileHandle,
    at: number,
  ) {
    this.written = this.accepted = at;
  }

  static async open(path: string, resumeAt?: number): Promise<FileSink> {
    if (resumeAt === undefined) return new FileSink(path, await named(path, mkdir(dirname(path), { recursive: true }).then(() => open(path, 'w'))), 0);
    const fh = await open(path, 'r+');
    const { size } = await fh.stat();
    if (size < resumeAt) {
      await fh.close();
      throw new Error(`${path} is ${size} bytes, shorter than the ${resumeAt} bytes the checkpoint committed`);
    }
    await fh.truncate(resumeAt);
    return new FileSink(path, fh, resumeAt);
  }

  get bytes(): number {
    return this.accepted;
  }

  get full(): boolean {
    return this.pending.bytes >= HIGH_WATER;
  }

  write(text: string): void {
    if (!text) return;
    this.accepted += this.pending.write(text);
  }

  private flushing: Promise<void> = Promise.resolve();

  /** Serialised: the writer's drain and a checkpoint's sync may ask at the same time. */
  drain(): Promise<void> {
    this.flushing = this.flushing.then(() => named(this.name, this.flushBuffered()));
    return this.flushing;
  }

  private async flushBuffered(): Promise<void> {
    while (this.pending.bytes > 0) {
      for (const buf of this.pending.take()) {
        await writeAt(this.fh, buf, this.written);
        this.written += buf.length;
      }
    }
  }

  async sync(): Promise<void> {
    await this.drain();
    await named(this.name, this.fh.datasync());
  }

  async close(): Promise<void> {
    await this.sync();
    await named(this.name, this.fh.close());
  }
}

/** A file system error, named with the file it happened on (storageError). */
export function named<T>(path: string, p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => Promise.reject(storageError(path, err)));
}

/**
 * Writes all of `buf` at `position`. Positional writes: the file offset is ours, whatever
 * happened before a resume (the file was truncated to its committed length).
 */
export async function writeAt(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}
