import { type FileHandle, mkdir, open, readdir, rm } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { outputError } from '../errors.js';
import type { SplitLimits, SplitPart } from '../contracts/positions.js';

export type { SplitPart };
import type { Sink } from './sink.js';
import { Utf8Blocks } from './utf8-blocks.js';
import { named, writeAt } from './file.js';


/** Buffered bytes before the writer should drain, as FileSink. */
const HIGH_WATER = 256 * 1024;
const DIGITS = 5;

/** `/d/out.csv`, 3 -> `/d/out-00003.csv`; no extension: `/d/out-00003`. */
export function partPath(template: string, index: number): string {
  const ext = extname(template);
  return `${template.slice(0, template.length - ext.length)}-${String(index).padStart(DIGITS, '0')}${ext}`;
}

/** Index of a file named as `partPath(template, n)`, else null. */
export function partIndex(template: string, name: string): number | null {
  const ext = extname(template);
  const stem = basename(template).slice(0, basename(template).length - ext.length);
  if (!name.startsWith(`${stem}-`) || !name.endsWith(ext)) return null;
  const digits = name.slice(stem.length + 1, name.length - ext.length);
  return /^\d{5,}$/.test(digits) ? Number(digits) : null;
}

interface File {
  path: string;
  fh: FileHandle | undefined;
  /** Open at `written` bytes (resume) rather than created empty. */
  existing: boolean;
  pending: Utf8Blocks;
  written: number;
}

/**
 * The output cut into numbered files (`--split-rows`, `--split-bytes`): `out.csv` becomes
 * `out-00001.csv`, `out-00002.csv`, ..., each with the header, none over a limit, and one
 * user's rows (one `write`) never across two files: a file is closed before the user that
 * would overflow it, and that user starts the next.
 *
 * Rotation is decided synchronously in `write` from the counts alone, so the same input gives
 * the same files; the I/O runs in order on one queue: the old file is flushed, fsynced and
 * closed before the next is created. `part` is the current file's index, length and rows; a
 * checkpoint records it beside the total `bytes`. A resume opens that file at its committed
 * length (truncating what came after the checkpoint) and removes higher-numbered files the
 * killed run had begun; the run then writes exactly what the first would have (guarantee 2).
 * A fresh run removes numbered files an earlier job left, so the set on disk is this job's.
 *
 * Memory: at most HIGH_WATER bytes plus one user's rows buffered, as FileSink.
 */
export class SplitSink implements Sink {
  private file: File;
  private index: number;
  private fileBytes: number;
  private fileRows: number;
  private total: number;
  private buffered = 0;
  private queue: Promise<void> = Promise.resolve();
  private failed: Error | undefined;
  private readonly headerBytes: number;

  private constructor(
    readonly name: string,
    private readonly header: string,
    private readonly limits: SplitLimits,
    at: { part: SplitPart; total: number; file: File },
  ) {
    this.headerBytes = Buffer.byteLength(header);
    this.index = at.part.index;
    this.fileBytes = at.part.bytes;
    this.fileRows = at.part.rows;
    this.total = at.total;
    this.file = at.file;
  }

  /** A new job: file 1 starts with the header; numbered files of an earlier job are removed. */
  static async create(template: string, header: string, limits: SplitLimits): Promise<SplitSink> {
    checkHeader(header, limits);
    await mkdir(dirname(template), { recursive: true });
    await removeParts(template, 0);
    const sink = new SplitSink(template, header, limits, { part: { index: 1, bytes: 0, rows: 0 }, total: 0, file: newFile(partPath(template, 1)) });
    sink.start(header);
    return sink;
  }

  /** Carries on from a checkpoint: `part` as recorded, `total` bytes over all files. */
  static async resume(template: string, header: string, limits: SplitLimits, part: SplitPart, total: number): Promise<SplitSink> {
    checkHeader(header, limits);
    const path = partPath(template, part.index);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r+');
    } catch (err) {
      throw outputError(`${path}: the checkpoint names it as the current output file, but it cannot be opened (${(err as NodeJS.ErrnoException).code}); rerun with --fresh`);
    }
    const { size } = await fh.stat();
    if (size < part.bytes) {
      await fh.close();
      throw outputError(`${path} is ${size} bytes, shorter than the ${part.bytes} bytes the checkpoint committed; rerun with --fresh`);
    }
    await fh.truncate(part.bytes);
    await removeParts(template, part.index);
    return new SplitSink(template, header, limits, { part, total, file: { path, fh, existing: true, pending: new Utf8Blocks(), written: part.bytes } });
  }

  get bytes(): number {
    return this.total;
  }

  get part(): SplitPart {
    return { index: this.index, bytes: this.fileBytes, rows: this.fileRows };
  }

  get full(): boolean {
    return this.buffered >= HIGH_WATER;
  }

  /** `rows`: the data rows in `text`, one user's; a file is cut only between two writes. */
  write(text: string, rows = 1): void {
    if (this.failed) throw this.failed;
    if (!text) return;
    const n = Buffer.byteLength(text);
    const { rows: maxRows, bytes: maxBytes } = this.limits;
    const hasData = this.fileBytes > this.headerBytes || this.fileRows > 0;
    if (hasData && ((maxRows !== null && this.fileRows + rows > maxRows) || (maxBytes !== null && this.fileBytes + n > maxBytes))) this.rotate();
    if (maxBytes !== null && this.fileBytes + n > maxBytes) {
      throw (this.failed = outputError(`--split-bytes ${maxBytes}: one user's ${rows === 1 ? 'row takes' : `${rows} rows take`} ${n} bytes, which with the ${this.headerBytes}-byte header do not fit in one file; raise --split-bytes`));
    }
    if (maxRows !== null && rows > maxRows) throw (this.failed = outputError(`--split-rows ${maxRows}: one user has ${rows} rows; raise --split-rows`));
    this.push(text, n);
    this.fileRows += rows;
  }

  drain(): Promise<void> {
    const f = this.file;
    return this.enqueue(() => named(f.path, this.flush(f)));
  }

  /** What is durable: every earlier file (closed on rotation) and the current one up to now. */
  sync(): Promise<void> {
    const f = this.file;
    return this.enqueue(() =>
      named(f.path, (async () => {
        await this.flush(f);
        await f.fh?.datasync();
      })()),
    );
  }

  close(): Promise<void> {
    const f = this.file;
    return this.enqueue(() => named(f.path, this.closeFile(f)));
  }

  private start(header: string): void {
    if (header) this.push(header, Buffer.byteLength(header));
  }

  private push(text: string, n: number): void {
    this.file.pending.write(text);
    this.buffered += n;
    this.fileBytes += n;
    this.total += n;
  }

  private rotate(): void {
    const old = this.file;
    void this.enqueue(() => named(old.path, this.closeFile(old))).catch(() => undefined);
    this.index++;
    this.file = newFile(partPath(this.name, this.index));
    this.fileBytes = 0;
    this.fileRows = 0;
    this.start(this.header);
  }

  /** Operations run one at a time in the order asked; the first failure fails the rest. */
  private enqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => {
      if (this.failed) throw this.failed;
      return fn();
    });
    this.queue = run.catch((err: unknown) => {
      this.failed ??= err as Error;
    });
    return run;
  }

  private async flush(f: File): Promise<void> {
    if (!f.fh) f.fh = await open(f.path, f.existing ? 'r+' : 'w');
    while (f.pending.bytes > 0) {
      this.buffered -= f.pending.bytes;
      for (const buf of f.pending.take()) {
        await writeAt(f.fh, buf, f.written);
        f.written += buf.length;
      }
    }
  }

  private async closeFile(f: File): Promise<void> {
    await this.flush(f);
    await f.fh!.datasync();
    await f.fh!.close();
  }
}

const newFile = (path: string): File => ({ path, fh: undefined, existing: false, pending: new Utf8Blocks(), written: 0 });

function checkHeader(header: string, limits: SplitLimits): void {
  const n = Buffer.byteLength(header);
  if (limits.bytes !== null && n >= limits.bytes) throw outputError(`--split-bytes ${limits.bytes} leaves no room after the ${n}-byte header; raise it`);
}

/** Removes `template`'s numbered files above `keep` (all of them for 0). */
async function removeParts(template: string, keep: number): Promise<void> {
  const dir = dirname(template);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const i = partIndex(template, name);
    if (i !== null && i > keep) await rm(join(dir, name), { force: true });
  }
}
