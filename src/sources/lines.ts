import { Transform, type TransformCallback } from 'node:stream';

/**
 * Counts line feeds as bytes stream past, so that a record's starting line can be told from
 * its byte offset. csv-parse's own `info.lines` miscounts with CRLF line ends and quoted
 * newlines, and the errors file promises "the physical line on which the record starts".
 * Memory: the offsets of the line feeds not yet asked about, i.e. those in the chunks
 * between this stage and the parser (a few stream buffers).
 */
export class LineIndex extends Transform {
  private pending: number[] = [];
  private head = 0;
  private pos: number;
  private counted: number;
  /** Offset just past the last line feed seen. */
  private lineStart: number;

  /** `startOffset`/`linesBefore`: where a resumed read begins. */
  constructor(startOffset = 0, linesBefore = 0) {
    super();
    this.pos = startOffset;
    this.counted = linesBefore;
    this.lineStart = startOffset;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.pending.push(this.pos + i);
    const last = chunk.lastIndexOf(10);
    if (last !== -1) this.lineStart = this.pos + last + 1;
    this.pos += chunk.length;
    done(null, chunk);
  }

  /** Physical lines in the bytes seen so far, a last line without a line feed included. */
  get linesSeen(): number {
    return this.counted + this.pending.length - this.head + (this.pos > this.lineStart ? 1 : 0);
  }

  /** Line feeds strictly before `offset`; offsets must not go backwards between calls. */
  feedsBefore(offset: number): number {
    const p = this.pending;
    while (this.head < p.length && p[this.head]! < offset) {
      this.head++;
      this.counted++;
    }
    if (this.head > 4096 && this.head * 2 > p.length) {
      this.pending = p.slice(this.head);
      this.head = 0;
    }
    return this.counted;
  }
}
