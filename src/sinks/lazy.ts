import { rm } from 'node:fs/promises';
import { FileSink } from './file.js';
import type { Sink } from './sink.js';

/**
 * A file that exists only once something is written to it, starting with `header`: a run
 * without errors leaves no errors file, so its presence alone tells an operator to look.
 */
export class LazyFileSink implements Sink {
  private file: FileSink | undefined;
  private chunks: string[] = [];
  private accepted = 0;

  private constructor(
    readonly name: string,
    private readonly header: string,
  ) {}

  /** Fresh: removes a stale file from an earlier job. Resumed at n > 0 bytes: reopens it. */
  static async open(path: string, header: string, resumeAt = 0): Promise<LazyFileSink> {
    const sink = new LazyFileSink(path, header);
    if (resumeAt > 0) {
      sink.file = await FileSink.open(path, resumeAt);
      sink.accepted = resumeAt;
    } else {
      await rm(path, { force: true });
    }
    return sink;
  }

  get bytes(): number {
    return this.file ? this.file.bytes : this.accepted;
  }

  get full(): boolean {
    return this.file?.full ?? false;
  }

  write(text: string): void {
    if (!text) return;
    if (this.file) return this.file.write(text);
    if (this.accepted === 0) this.push(this.header);
    this.push(text);
  }

  private push(text: string) {
    this.chunks.push(text);
    this.accepted += Buffer.byteLength(text);
  }

  private async materialise(): Promise<FileSink | undefined> {
    if (!this.file && this.chunks.length > 0) {
      this.file = await FileSink.open(this.name);
      for (const c of this.chunks.splice(0)) this.file.write(c);
    }
    return this.file;
  }

  async drain(): Promise<void> {
    await (await this.materialise())?.drain();
  }

  async sync(): Promise<void> {
    await (await this.materialise())?.sync();
  }

  async close(): Promise<void> {
    await (await this.materialise())?.close();
  }
}
