import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, PutObjectCommand, UploadPartCommand } from '../aws/s3-sdk.js';
import PQueue from 'p-queue';
import { describeS3Error, isNoSuchUpload } from '../aws/errors.js';
import type { S3Access } from '../aws/s3client.js';
import { type S3Location, s3Url } from '../aws/s3url.js';
import { ExitError, outputError } from '../errors.js';
import type { S3SinkState } from '../contracts/positions.js';
import { abort, deleteKeys, discard, MissingSegment, readSegment, sweepPrefix, verifyComplete } from './s3-objects.js';
import type { Sink } from './sink.js';
import { Utf8Blocks } from './utf8-blocks.js';

export type { S3SinkState };
export { discard } from './s3-objects.js';


export interface S3SinkOptions {
  /** Bytes that make a part (≥ 5 MiB, S3's minimum but for the last part). */
  partSize: number;
  /** The flag that named the location, for messages (`--output`, `--errors`). */
  flag: string;
  contentType: string;
  /** Lazy: no object at all unless something is written, and then `lazyHeader` comes first. */
  lazyHeader?: string | undefined;
}

/** Segments merge only while the result stays under this: above it a segment is not "small". */
const MERGE_LIMIT = 1024 * 1024;
/** S3's limit on part numbers. */
const MAX_PARTS = 10_000;
/** Segment downloads in flight on resume. */
const DOWNLOADS = 8;

type Part = S3SinkState['parts'][number];
type Segment = S3SinkState['segments'][number];

/**
 * Writes one object at `s3://bucket/key` that nobody sees until it is complete (a multipart
 * upload completed at `close()`), with durable progress bounded by the checkpoint interval
 * rather than by S3's 5 MiB part minimum:
 *
 * - Bytes after the last part (the tail) stay in memory until they make a part.
 * - `sync()` fixes, synchronously, the bytes accepted so far. If the tail has reached the part
 *   size it is uploaded as the next part; otherwise the bytes since the previous sync go to a
 *   small segment object `<key>.parts/seg-<start>-<end>`. It returns the state that matches
 *   exactly those bytes, for the checkpoint written right after.
 * - Small segments merge (a binary counter: a new segment absorbs the previous one of its
 *   level while under MERGE_LIMIT), so at 600 users a minute a checkpoint names a dozen
 *   segments, not the thousands of one-second ones that make up 8 MiB, and a resume reads
 *   a dozen objects.
 * - Objects a part or a merge replaced are deleted only after a checkpoint that no longer
 *   names them is saved (`checkpointed()`): a crash in between leaves the previous checkpoint
 *   pointing at objects that still exist.
 * - Resume: the same upload, the parts of the checkpoint, the tail rebuilt from its segments.
 *   A part uploaded after the last saved checkpoint is simply uploaded again with the same
 *   number (S3 keeps the last upload of a number, and drops unlisted parts on completion).
 *
 * Memory: the tail, under `partSize` plus one checkpoint interval of output; when checkpoints
 * do not come (no checkpoint, or S3 failing) `full` holds the writer at twice the part size,
 * and `drain()` uploads a part.
 */
export class S3Sink implements Sink {
  readonly name: string;
  /** Accepted, not yet moved to `mem`. */
  private readonly pending = new Utf8Blocks();
  /** Bytes [partedEnd, captured) in order. */
  private mem: Buffer[] = [];
  private accepted: number;
  /** Bytes in parts. */
  private partedEnd: number;
  /** Bytes in parts and segments: what is durable. */
  private segEnd: number;
  private uploadId: string | null;
  private parts: Part[];
  private segments: Segment[];
  /** Keys no state names any more, not yet safe to delete. */
  private redundant: string[] = [];
  /** Keys the state returned by the last sync no longer names: deleted once its checkpoint is saved. */
  private deletable: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private cleanup: Promise<void> = Promise.resolve();
  private checksums: boolean | undefined;
  /**
   * Objects under `<key>.parts/` this sink does not know of may exist: it was resumed (a killed
   * run's last segment), or a segment upload failed (it may have landed anyway). A fresh sink
   * with no failure knows every segment it made, and close() need not list the prefix.
   */
  private strays: boolean;

  private constructor(
    private readonly s3: S3Access,
    readonly loc: S3Location,
    private readonly o: S3SinkOptions,
    from?: { state: S3SinkState; tail: Buffer; committed: number; keepSegments: boolean },
  ) {
    this.name = loc.url;
    this.strays = from !== undefined;
    this.uploadId = from?.state.uploadId ?? null;
    this.parts = from ? from.state.parts.map((p) => ({ ...p })) : [];
    this.partedEnd = this.parts.reduce((n, p) => n + p.bytes, 0);
    this.accepted = from?.committed ?? 0;
    if (from && from.tail.length > 0) this.mem.push(from.tail);
    if (from && from.keepSegments) {
      this.segments = from.state.segments.map((s) => ({ ...s }));
      this.segEnd = this.accepted;
    } else {
      // Truncated: the next sync writes the tail again as one segment.
      this.segments = [];
      this.segEnd = this.partedEnd;
      if (from) this.redundant.push(...from.state.segments.map((s) => s.key));
    }
  }

  /**
   * A new object. The main output starts its multipart upload at once, which checks that the
   * bucket exists and the credentials may write there (and use the KMS key) before any API
   * request is spent. A lazy sink (errors file) removes the previous run's object instead.
   * Either way, leftover segments under `<key>.parts/` from an earlier job are removed.
   */
  static async create(s3: S3Access, loc: S3Location, o: S3SinkOptions): Promise<S3Sink> {
    const sink = new S3Sink(s3, loc, o);
    const start = o.lazyHeader === undefined ? sink.ensureUpload() : s3.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
    const [started] = await Promise.allSettled([start, sink.sweep()]);
    if (started.status === 'rejected') throw outputError(`${o.flag} ${loc.url}: ${describeS3Error(started.reason, loc.bucket)}`);
    return sink;
  }

  /** Carries on from a checkpoint: `committed` bytes, `state` recorded with them. */
  static async resume(s3: S3Access, loc: S3Location, o: S3SinkOptions, state: S3SinkState | undefined, committed: number): Promise<S3Sink> {
    if (committed === 0 && o.lazyHeader !== undefined) return S3Sink.create(s3, loc, o);
    try {
      return await S3Sink.load(s3, loc, o, state, committed);
    } catch (err) {
      if (err instanceof MissingSegment) throw outputError(`${o.flag} ${loc.url}: cannot resume: ${err.message}; rerun with --fresh`);
      throw err;
    }
  }

  private static async load(s3: S3Access, loc: S3Location, o: S3SinkOptions, state: S3SinkState | undefined, committed: number): Promise<S3Sink> {
    if (!state) throw outputError(`${o.flag} ${loc.url}: the checkpoint has no S3 upload state to resume it; rerun with --fresh`);
    if (state.bucket !== loc.bucket || state.key !== loc.key) {
      throw outputError(`${o.flag} ${loc.url}: the checkpoint's upload is for ${s3Url(state.bucket, state.key)}; rerun with --fresh`);
    }
    const partsBytes = state.parts.reduce((n, p) => n + p.bytes, 0);
    const segBytes = state.segments.reduce((n, s) => n + s.bytes, 0);
    if (partsBytes > committed || partsBytes + segBytes < committed) {
      throw outputError(
        `${o.flag} ${loc.url}: the checkpoint committed ${committed} bytes but its upload holds ${partsBytes} in parts and ${segBytes} in segments; rerun with --fresh`,
      );
    }
    let segs: Buffer[];
    try {
      const downloads = new PQueue({ concurrency: DOWNLOADS });
      segs = await Promise.all(state.segments.map((seg) => downloads.add(() => readSegment(s3, loc.bucket, seg)) as Promise<Buffer>));
    } catch (err) {
      if (err instanceof MissingSegment) throw err;
      throw outputError(`${o.flag} ${loc.url}: cannot resume: ${describeS3Error(err)}`);
    }
    const tailBytes = committed - partsBytes;
    const tail = Buffer.concat(segs).subarray(0, tailBytes);
    return new S3Sink(s3, loc, o, { state, tail, committed, keepSegments: segBytes === tailBytes });
  }

  /**
   * Makes sure the object of a finished job exists: a kill between the checkpoint marked done
   * and CompleteMultipartUpload left it unfinished, and everything needed is in the state.
   * Idempotent: an upload already completed (NoSuchUpload) or segments already deleted (which
   * happens only after completion) end in checking the object's length.
   */
  static async recover(s3: S3Access, loc: S3Location, o: S3SinkOptions, state: S3SinkState | undefined, committed: number): Promise<'completed' | 'was_complete'> {
    if (committed === 0 && o.lazyHeader !== undefined) return 'was_complete';
    let sink: S3Sink;
    try {
      sink = await S3Sink.load(s3, loc, o, state, committed);
    } catch (err) {
      if (!(err instanceof MissingSegment)) throw err;
      await verifyComplete(s3, loc, o, committed);
      await discard(s3, state!);
      return 'was_complete';
    }
    const done = await sink.serial(() => sink.finish(committed, true));
    await sink.removeLeftovers();
    return done ? 'completed' : 'was_complete';
  }

  get bytes(): number {
    return this.accepted;
  }

  get full(): boolean {
    return this.accepted - this.partedEnd >= 2 * this.o.partSize;
  }

  write(text: string): void {
    if (!text) return;
    if (this.accepted === 0 && this.o.lazyHeader) this.push(this.o.lazyHeader);
    this.push(text);
  }

  private push(text: string): void {
    this.accepted += this.pending.write(text);
  }

  /** Without checkpoints, nothing else cuts parts: bound memory here. */
  drain(): Promise<void> {
    if (!this.full) return Promise.resolve();
    const c = this.capture();
    return this.serial(async () => {
      if (c - this.partedEnd >= this.o.partSize) await this.cutPart(c);
    });
  }

  sync(): Promise<S3SinkState> {
    const c = this.capture();
    return this.serial(async () => {
      if (c - this.partedEnd >= this.o.partSize) await this.cutPart(c);
      else if (c > this.segEnd) await this.putSegment(c);
      this.deletable = [...this.redundant];
      return this.state(c);
    });
  }

  checkpointed(): void {
    const keys = this.deletable;
    if (keys.length === 0) return;
    this.deletable = [];
    this.redundant = this.redundant.filter((k) => !keys.includes(k));
    // Best effort and off the commit path: close() sweeps whatever is left.
    this.cleanup = this.cleanup.then(() =>
      deleteKeys(this.s3, this.loc.bucket, keys).catch(() => {
        this.strays = true;
      }),
    );
  }

  async close(finished = true): Promise<void> {
    if (!finished) {
      // The checkpoint holds the upload's state; the resume carries on from it.
      await this.queue;
      await this.cleanup;
      return;
    }
    const c = this.capture();
    try {
      await this.serial(() => this.finish(c, false));
    } catch (err) {
      // Exit 5 as for an outage: the checkpoint (marked done) holds all it takes to finish.
      throw new ExitError('unavailable', `${this.o.flag} ${this.name}: completing the upload failed: ${describeS3Error(err, this.loc.bucket)}; rerun the same command to finish it`);
    }
    await this.removeLeftovers();
  }

  /** The state matching the first `c` bytes, all of them durable. */
  private state(c: number): S3SinkState {
    if (this.segEnd !== c) throw new Error(`S3Sink: state asked at ${c} bytes with ${this.segEnd} durable`);
    return {
      bucket: this.loc.bucket,
      key: this.loc.key,
      uploadId: this.uploadId,
      parts: this.parts.map((p) => ({ ...p })),
      segments: this.segments.map((s) => ({ ...s })),
      bytes: c,
    };
  }

  /** Fixes the bytes accepted so far: moves pending text into `mem`; returns the boundary. */
  private capture(): number {
    if (this.pending.bytes > 0) this.mem.push(...this.pending.take());
    return this.accepted;
  }

  /** Operations run one at a time, in the order called: their boundaries only grow. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Bytes [from, to) of the stream; `mem` starts at `partedEnd`. */
  private slice(from: number, to: number): Buffer {
    const out: Buffer[] = [];
    let at = this.partedEnd;
    for (const b of this.mem) {
      const end = at + b.length;
      if (end > from && at < to) out.push(b.subarray(Math.max(0, from - at), Math.min(b.length, to - at)));
      at = end;
      if (at >= to) break;
    }
    const buf = out.length === 1 ? out[0]! : Buffer.concat(out);
    if (buf.length !== to - from) throw new Error(`S3Sink: bytes ${from}-${to} asked, ${buf.length} in memory`);
    return buf;
  }

  /** Forgets bytes before `to` (they are in a part now). */
  private dropBefore(to: number): void {
    let drop = to - this.partedEnd;
    while (drop > 0 && this.mem.length > 0) {
      const b = this.mem[0]!;
      if (b.length <= drop) {
        this.mem.shift();
        drop -= b.length;
      } else {
        this.mem[0] = b.subarray(drop);
        drop = 0;
      }
    }
    this.partedEnd = to;
  }

  /** Does the client add CRC32 checksums by default (then the upload must say so up front)? */
  private async checksumsOn(): Promise<boolean> {
    this.checksums ??= (await this.s3.client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
    return this.checksums;
  }

  private async ensureUpload(): Promise<string> {
    if (this.uploadId) return this.uploadId;
    const r = await this.s3.client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.loc.bucket,
        Key: this.loc.key,
        ContentType: this.o.contentType,
        ...this.s3.sse,
        // As lib-storage does: parts then carry CRC32s, and CompleteMultipartUpload gets them back.
        ...((await this.checksumsOn()) ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
      }),
    );
    if (!r.UploadId) throw new Error('CreateMultipartUpload answered no UploadId');
    this.uploadId = r.UploadId;
    return r.UploadId;
  }

  /** Bytes [partedEnd, c) become part n+1; the segments they were in become redundant. */
  private async cutPart(c: number): Promise<void> {
    const body = this.slice(this.partedEnd, c);
    const part = await this.uploadPart(body);
    this.parts.push(part);
    this.redundant.push(...this.segments.map((s) => s.key));
    this.segments = [];
    this.dropBefore(c);
    this.segEnd = c;
  }

  private async uploadPart(body: Buffer): Promise<Part> {
    const n = this.parts.length + 1;
    if (n > MAX_PARTS) throw new Error(`${this.name}: more than ${MAX_PARTS} parts; raise --s3-part-size`);
    const uploadId = await this.ensureUpload();
    const r = await this.s3.client.send(new UploadPartCommand({ Bucket: this.loc.bucket, Key: this.loc.key, UploadId: uploadId, PartNumber: n, Body: body }));
    if (!r.ETag) throw new Error(`UploadPart ${n} answered no ETag`);
    return { n, etag: r.ETag, bytes: body.length, ...(r.ChecksumCRC32 ? { crc32: r.ChecksumCRC32 } : {}) };
  }

  /**
   * Bytes [segEnd, c) go to a new segment, which absorbs the trailing segments of its level
   * while it stays under MERGE_LIMIT (binary counter: at most about log2(n) small segments).
   * The merged segment is written whole from memory, in one PutObject.
   */
  private async putSegment(c: number): Promise<void> {
    let start = this.segEnd;
    let level = 0;
    const kept = [...this.segments];
    const absorbed: string[] = [];
    for (let last = kept.at(-1); last && last.level === level && c - (start - last.bytes) <= MERGE_LIMIT; last = kept.at(-1)) {
      kept.pop();
      absorbed.push(last.key);
      start -= last.bytes;
      level++;
    }
    const key = `${this.loc.key}.parts/seg-${pad(start)}-${pad(c)}`;
    try {
      await this.s3.client.send(new PutObjectCommand({ Bucket: this.loc.bucket, Key: key, Body: this.slice(start, c), ContentType: 'application/octet-stream', ...this.s3.sse }));
    } catch (err) {
      this.strays = true;
      throw err;
    }
    kept.push({ key, bytes: c - start, level });
    this.segments = kept;
    this.redundant.push(...absorbed);
    this.segEnd = c;
  }

  /**
   * The object appears: everything in memory becomes the last part and the upload is
   * completed; with no part at all, one PutObject (and the upload, if any, is aborted).
   * `tolerant` (recovery of a finished job): an upload already completed is fine if the
   * object has the committed length. Returns false when there was nothing left to do.
   */
  private async finish(c: number, tolerant: boolean): Promise<boolean> {
    const { bucket, key } = this.loc;
    if (c === 0 && this.o.lazyHeader !== undefined) {
      if (this.uploadId) await abort(this.s3, bucket, key, this.uploadId);
      return true;
    }
    try {
      if (this.parts.length === 0 && (!this.uploadId || c === 0)) {
        await this.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: this.slice(0, c), ContentType: this.o.contentType, ...this.s3.sse }));
        if (this.uploadId) await abort(this.s3, bucket, key, this.uploadId);
      } else {
        const uploadId = await this.ensureUpload();
        const last = this.slice(this.partedEnd, c);
        const parts = [...this.parts];
        if (last.length > 0 || parts.length === 0) parts.push(await this.uploadPart(last));
        await this.s3.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: p.etag, ...(p.crc32 ? { ChecksumCRC32: p.crc32 } : {}) })) },
          }),
        );
      }
    } catch (err) {
      if (!(tolerant && isNoSuchUpload(err))) throw err;
      await verifyComplete(this.s3, this.loc, this.o, c);
      return false;
    }
    this.redundant.push(...this.segments.map((s) => s.key));
    this.segments = [];
    return true;
  }

  /** After completion: every segment goes, named or stray (from a killed run). */
  private async removeLeftovers(): Promise<void> {
    await this.cleanup;
    await deleteKeys(this.s3, this.loc.bucket, this.redundant).catch(() => {
      this.strays = true;
    });
    this.redundant = [];
    if (this.strays) await this.sweep();
  }

  /** Best effort: listing needs s3:ListBucket, which a writer's role may not have. */
  private async sweep(): Promise<void> {
    await sweepPrefix(this.s3, this.loc.bucket, `${this.loc.key}.parts/`).catch(() => undefined);
  }
}

/**
 * `--fresh`, or a finished job replaced by another: the old upload is aborted and its segments
 * deleted (best effort: the upload of a finished job is already completed).
 */
/** Output offsets in segment names: fixed width, so they sort in order. */
const pad = (n: number) => String(n).padStart(14, '0');
