import type { Format } from '../config.js';
import { inputError } from '../errors.js';

const NL = 0x0a;

/**
 * The bytes of `merge`'s output, input after input, without any I/O: the CSV header of the
 * first input once, every other input's header checked against it and dropped. Works on
 * bytes (a line feed is never part of a UTF-8 sequence), so chunks may split anywhere.
 * A last line without a line feed gets one, so it cannot run into the next file's first row.
 */
export class Joiner {
  private header: Buffer | undefined;
  private firstName: string | undefined;
  private name = '';
  /** CSV: bytes of the current input's first line, until its line feed arrives. */
  private head: Buffer[] | undefined;
  private endsWithNl = true;
  private empty = true;
  /** Data lines written: CSV rows without headers, JSONL objects. */
  lines = 0;

  constructor(private readonly format: Format) {}

  /** The next input begins. */
  start(name: string): void {
    this.name = name;
    this.firstName ??= name;
    this.head = this.format === 'csv' ? [] : undefined;
    this.endsWithNl = true;
    this.empty = true;
  }

  /** What to write for this chunk of the current input (maybe nothing yet). */
  chunk(buf: Buffer): Buffer[] {
    if (buf.length === 0) return [];
    this.empty = false;
    let data = buf;
    const out: Buffer[] = [];
    if (this.head) {
      const nl = buf.indexOf(NL);
      if (nl < 0) {
        this.head.push(buf);
        return out;
      }
      this.head.push(buf.subarray(0, nl + 1));
      const line = Buffer.concat(this.head);
      this.head = undefined;
      data = buf.subarray(nl + 1);
      const h = this.takeHeader(line);
      if (h) out.push(h);
    }
    if (data.length > 0) {
      out.push(data);
      this.lines += countNewlines(data);
      this.endsWithNl = data[data.length - 1] === NL;
    }
    return out;
  }

  /** The current input has ended: what is still owed for it. */
  end(): Buffer[] {
    if (this.format === 'csv' && this.empty) throw inputError(`merge: ${this.name} is empty (no header line): not an export output`);
    if (this.head) {
      // A header and no line feed at all: the header is the whole file.
      const line = Buffer.concat([...this.head, Buffer.from('\n')]);
      this.head = undefined;
      const h = this.takeHeader(line);
      return h ? [h] : [];
    }
    if (this.endsWithNl) return [];
    this.endsWithNl = true;
    this.lines++;
    return [Buffer.from('\n')];
  }

  /** The first header is written; any other must be the same bytes (CRLF and all). */
  private takeHeader(line: Buffer): Buffer | undefined {
    if (this.header === undefined) {
      this.header = line;
      return line;
    }
    if (!line.equals(this.header)) {
      const shown = line.toString('utf8').trim().slice(0, 80);
      throw inputError(`merge: ${this.name} has another header than ${this.firstName} (${shown}): not outputs of the same job`);
    }
    return undefined;
  }
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(NL); i !== -1; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}
