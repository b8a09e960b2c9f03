import type { Writable } from 'node:stream';
import type { Sink } from './sink.js';

/** Writes to standard output with its back-pressure. Cannot be resumed, so never synced. */
export class StreamSink implements Sink {
  private accepted = 0;
  private waiting = false;

  constructor(
    private readonly out: Writable = process.stdout,
    readonly name = 'stdout',
  ) {}

  get bytes(): number {
    return this.accepted;
  }

  get full(): boolean {
    return this.waiting;
  }

  write(text: string): void {
    if (!text) return;
    this.accepted += Buffer.byteLength(text);
    if (!this.out.write(text)) this.waiting = true;
  }

  async drain(): Promise<void> {
    if (!this.waiting) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.off('drain', ok);
        this.out.off('error', done);
        this.waiting = false;
        if (err) reject(err);
        else resolve();
      };
      const ok = () => done();
      this.out.once('drain', ok);
      this.out.once('error', done);
    });
  }

  async sync(): Promise<void> {
    await this.drain();
  }

  async close(): Promise<void> {
    await this.drain();
  }
}
