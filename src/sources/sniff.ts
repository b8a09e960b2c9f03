import { Transform, type TransformCallback } from 'node:stream';

/** How much of the input is looked at before a byte of it is parsed. */
export const SNIFF_BYTES = 64 * 1024;

const SAVE_AS_CSV = 'export it as CSV (File > Save As > CSV UTF-8)';

const starts =
  (...magic: Array<number | string>) =>
  (head: Buffer): boolean =>
    magic.every((m, i) => (typeof m === 'number' ? head[i] === m : m.includes(String.fromCharCode(head[i] ?? 0))));

/** Files people pass by mistake, by their first bytes (the formats' magic numbers). */
const MAGIC: Array<[(head: Buffer) => boolean, string]> = [
  [starts(0x1f, 0x8b), 'gzip-compressed: decompress it first (gunzip it, or pipe `gunzip -c` into --input -)'],
  [starts(0x50, 0x4b, 0x03, 0x04), `a zip file or a spreadsheet (.xlsx and .ods are zip files), not CSV: ${SAVE_AS_CSV}`],
  [starts(0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1), `an Excel .xls workbook, not CSV: ${SAVE_AS_CSV}`],
  [starts(0x42, 0x5a, 0x68, '123456789'), 'bzip2-compressed: decompress it first'],
  [starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00), 'xz-compressed: decompress it first'],
  [starts(0x28, 0xb5, 0x2f, 0xfd), 'zstd-compressed: decompress it first'],
  [starts(0xff, 0xfe), `UTF-16 text (Excel's "Unicode Text"), not UTF-8: ${SAVE_AS_CSV}`],
  [starts(0xfe, 0xff), `UTF-16 text, not UTF-8: ${SAVE_AS_CSV}`],
];

/**
 * Why the first bytes of an input cannot be a CSV text file, or null when they can. A NUL
 * never occurs in CSV text; parsing a binary file instead would send a request per line of
 * garbage and fill the errors file.
 */
export function notCsv(head: Buffer): string | null {
  for (const [is, what] of MAGIC) if (is(head)) return what;
  const nul = head.indexOf(0);
  if (nul !== -1) return `not a CSV text file: a NUL byte at byte ${nul} (binary data, or UTF-16 text): ${SAVE_AS_CSV}`;
  // Line ends of CR alone (classic Mac): the parser splits on CRLF and LF only, and would read
  // the whole file as one header row.
  const cr = head.indexOf(13);
  if (head.indexOf(10) === -1 && cr !== -1 && cr < head.length - 1) return 'its lines end in CR alone (classic Mac): convert them to LF or CRLF';
  return null;
}

/**
 * Holds the first SNIFF_BYTES of a stream (or all of it, if shorter) until `notCsv` has
 * looked at them, then passes everything through unchanged. A stream that is not CSV fails
 * before the header is parsed, hence before any request. Memory: SNIFF_BYTES plus one chunk.
 */
export class Sniff extends Transform {
  private head: Buffer[] = [];
  private length = 0;
  private checked = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.checked) return done(null, chunk);
    this.head.push(chunk);
    this.length += chunk.length;
    if (this.length < SNIFF_BYTES) return done();
    this.release(done);
  }

  override _flush(done: TransformCallback): void {
    if (this.checked) return done();
    this.release(done);
  }

  private release(done: TransformCallback): void {
    const all = Buffer.concat(this.head);
    this.head = [];
    const problem = notCsv(all.subarray(0, SNIFF_BYTES));
    if (problem) return done(new Error(problem));
    this.checked = true;
    done(null, all.length ? all : undefined);
  }
}
