import { AbortMultipartUploadCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Access } from '../../src/aws/s3client.js';
import { MIB } from '../../src/aws/settings.js';
import { parseS3Url, type S3Location } from '../../src/aws/s3url.js';
import { ExitError } from '../../src/errors.js';
import { S3Sink, type S3SinkOptions, type S3SinkState } from '../../src/sinks/s3.js';
import { type LocalS3, startS3 } from '../support/s3.js';

// The sink's state logic against a real S3 protocol server (fauxqs, which also enforces the
// 5 MiB minimum part size): parts are 5 MiB here, segments whatever a sync finds.
const PART = 5 * MIB;

let s3: LocalS3;
let access: S3Access;
/** SSE headers seen on every request, by operation (observed on the wire, nothing replaced). */
const sseSeen: Array<{ op: string; sse?: string; kms?: string }> = [];

beforeAll(async () => {
  s3 = await startS3('b');
  Object.assign(process.env, s3.env);
  access = await S3Access.create({ pathStyle: true, partSize: PART, sse: 'aws:kms', kmsKeyId: 'alias/exports' });
  access.client.middlewareStack.add(
    (next, context) => async (args) => {
      const h = (args.request as { headers: Record<string, string> }).headers;
      sseSeen.push({ op: String(context.commandName), sse: h['x-amz-server-side-encryption'], kms: h['x-amz-server-side-encryption-aws-kms-key-id'] });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordSse' },
  );
});
afterAll(async () => {
  access?.destroy();
  await s3?.stop();
});

let n = 0;
const loc = (): S3Location => parseS3Url(`s3://b/t${++n}/out.csv`) as S3Location;
const opts = (o: Partial<S3SinkOptions> = {}): S3SinkOptions => ({ partSize: PART, flag: '--output', contentType: 'text/csv', ...o });
/** Text of `bytes` bytes, different for each `seed`, with line feeds like an export. */
const text = (bytes: number, seed = 'x') => {
  const line = `${seed},${'0123456789abcdef'.repeat(4)}\n`;
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
};
const segmentsOf = (l: S3Location) => s3.keys('b', `${l.key}.parts/`);
const until = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('S3Sink: sync and state', () => {
  it('a sync covers exactly what was accepted when it was called, not what comes in the same tick', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    sink.write('header\n');
    const pending = sink.sync();
    sink.write('after the call\n');
    const st = await pending;
    expect(st.bytes).toBe(7);
    expect(st.parts).toEqual([]);
    expect(st.segments).toHaveLength(1);
    expect((await s3.get('b', st.segments[0]!.key))!.toString()).toBe('header\n');
    expect(sink.bytes).toBe(7 + 15);
    const st2 = await sink.sync();
    expect(st2.bytes).toBe(22);
    await sink.close();
    expect((await s3.get('b', l.key))!.toString()).toBe('header\nafter the call\n');
  });

  it('small segments merge: 300 syncs leave about log2 of them, and checkpointed() deletes the rest', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    let expected = '';
    let st: S3SinkState | undefined;
    const SYNCS = 300;
    for (let i = 0; i < SYNCS; i++) {
      const t = text(150, `row${i}`);
      expected += t;
      sink.write(t);
      st = await sink.sync();
      sink.checkpointed();
    }
    expect(st!.bytes).toBe(expected.length);
    expect(st!.segments.length).toBeLessThanOrEqual(Math.ceil(Math.log2(SYNCS)) + 1);
    expect(st!.segments.reduce((s, x) => s + x.bytes, 0)).toBe(expected.length);
    // Only what the last state names is left, once the background deletes are done.
    const named = st!.segments.map((s) => s.key).sort();
    await until(async () => (await segmentsOf(l)).length === named.length);
    expect((await segmentsOf(l)).sort()).toEqual(named);
    await sink.close();
    expect((await s3.get('b', l.key))!.toString()).toBe(expected);
    expect(await segmentsOf(l)).toEqual([]);
  });

  it('the tail becomes a part once it reaches the part size; the segments it replaces stay until checkpointed()', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    const a = text(3 * MIB, 'a');
    const b = text(3 * MIB, 'b');
    sink.write(a);
    const s1 = await sink.sync();
    expect(s1.segments).toHaveLength(1);
    sink.checkpointed();
    sink.write(b);
    const s2 = await sink.sync();
    expect(s2.parts).toEqual([expect.objectContaining({ n: 1, bytes: 6 * MIB })]);
    expect(s2.segments).toEqual([]);
    // The checkpoint saved before still names s1's segment: it must outlive this sync.
    expect(await s3.exists('b', s1.segments[0]!.key)).toBe(true);
    sink.checkpointed();
    await until(async () => !(await s3.exists('b', s1.segments[0]!.key)));
    expect(await s3.exists('b', s1.segments[0]!.key)).toBe(false);
    sink.write('tail\n');
    await sink.close();
    expect((await s3.get('b', l.key))!.toString()).toBe(a + b + 'tail\n');
  });
});

describe('S3Sink: resume', () => {
  it('from a checkpointed state: same upload, tail rebuilt from segments, a part uploaded after it is uploaded again', async () => {
    const l = loc();
    const first = await S3Sink.create(access, l, opts());
    const a = text(4 * MIB, 'a');
    first.write(a);
    await first.sync();
    first.checkpointed();
    const b = text(200_000, 'b');
    first.write(b);
    const saved = await first.sync(); // the last checkpoint saved before the kill
    first.checkpointed();
    first.write(text(2 * MIB, 'lost'));
    const unsaved = await first.sync(); // part 1 uploaded, but its checkpoint never saved
    expect(unsaved.parts).toHaveLength(1);
    // (killed here: no checkpointed(), no close)

    const second = await S3Sink.resume(access, l, opts(), saved, saved.bytes);
    expect(second.bytes).toBe(saved.bytes);
    const c = text(3 * MIB, 'c');
    second.write(c);
    const s = await second.sync();
    expect(s.uploadId).toBe(saved.uploadId);
    expect(s.parts).toEqual([expect.objectContaining({ n: 1, bytes: a.length + b.length + c.length })]);
    second.checkpointed();
    second.write('end\n');
    await second.close();
    expect((await s3.get('b', l.key))!.toString()).toBe(a + b + c + 'end\n');
    expect(await segmentsOf(l)).toEqual([]);
  });

  it('truncates to the committed length when the state holds more', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    sink.write('one\ntwo\n');
    const st = await sink.sync();
    const resumed = await S3Sink.resume(access, l, opts(), st, 4);
    resumed.write('three\n');
    await resumed.sync();
    await resumed.close();
    expect((await s3.get('b', l.key))!.toString()).toBe('one\nthree\n');
  });

  it('refuses a state whose segment is gone, naming it, with --fresh as the way out', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    sink.write('rows\n');
    const st = await sink.sync();
    await s3.remove('b', st.segments[0]!.key);
    const err = await S3Sink.resume(access, l, opts(), st, st.bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExitError);
    expect((err as ExitError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/--output s3:\/\/b\/.*out\.csv: cannot resume: segment s3:\/\/b\/.*seg-\d+-\d+ is gone; rerun with --fresh/);
  });

  it('close(false) (a stopped run) leaves no object and the upload open for the resume', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    sink.write('part of it\n');
    const st = await sink.sync();
    await sink.close(false);
    expect(await s3.exists('b', l.key)).toBe(false);
    const resumed = await S3Sink.resume(access, l, opts(), st, st.bytes);
    resumed.write('the rest\n');
    await resumed.close();
    expect((await s3.get('b', l.key))!.toString()).toBe('part of it\nthe rest\n');
  });
});

describe('S3Sink: finishing', () => {
  it('recover() completes a finished job whose close never ran, and is a no-op after', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    const a = text(5 * MIB + 10, 'a');
    sink.write(a);
    await sink.sync();
    sink.checkpointed();
    sink.write('last rows\n');
    const done = await sink.sync(); // the checkpoint marked done; killed before close()
    expect(await s3.exists('b', l.key)).toBe(false);
    expect(await S3Sink.recover(access, l, opts(), done, done.bytes)).toBe('completed');
    expect((await s3.get('b', l.key))!.toString()).toBe(a + 'last rows\n');
    expect(await segmentsOf(l)).toEqual([]);
    expect(await S3Sink.recover(access, l, opts(), done, done.bytes)).toBe('was_complete');
    expect((await s3.get('b', l.key))!.toString()).toBe(a + 'last rows\n');
  });

  it('recover() after a completion whose segments were not yet deleted: checks the length and cleans up', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    sink.write('all of it\n');
    const done = await sink.sync();
    await sink.close();
    await s3.put('b', done.segments[0]!.key, 'all of it\n'); // as if deletion had not happened yet
    expect(await S3Sink.recover(access, l, opts(), done, done.bytes)).toBe('was_complete');
    expect(await segmentsOf(l)).toEqual([]);
  });

  it('an empty output is still an object; a lazy one (errors) is none unless written, and starts with its header', async () => {
    const empty = loc();
    const sink = await S3Sink.create(access, empty, opts());
    await sink.sync();
    await sink.close();
    expect((await s3.get('b', empty.key))!.length).toBe(0);

    const none = loc();
    const lazyNone = await S3Sink.create(access, none, opts({ lazyHeader: 'h1,h2\n' }));
    await lazyNone.sync();
    await lazyNone.close();
    expect(await s3.exists('b', none.key)).toBe(false);

    const some = loc();
    await s3.put('b', some.key, 'stale from yesterday\n');
    const lazy = await S3Sink.create(access, some, opts({ lazyHeader: 'h1,h2\n' }));
    expect(await s3.exists('b', some.key)).toBe(false); // a stale object does not outlive the fresh start
    lazy.write('a,b\n');
    const st = await lazy.sync();
    expect(st).toMatchObject({ uploadId: null, bytes: 10 });
    await lazy.close();
    expect((await s3.get('b', some.key))!.toString()).toBe('h1,h2\na,b\n');
  });

  it('without checkpoints, drain() cuts parts: memory stays near two parts', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    let expected = '';
    for (let i = 0; i < 24; i++) {
      const t = text(MIB, `m${i}`);
      expected += t;
      sink.write(t);
      if (sink.full) await sink.drain();
      expect(sink.full).toBe(false);
    }
    await sink.close();
    const got = (await s3.get('b', l.key))!.toString();
    expect(got.length).toBe(expected.length);
    expect(got === expected).toBe(true);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'b', Key: l.key }));
    expect(head.ETag).toMatch(/-\d+"$/);
  });

  it('close() completes the upload: no upload left open, no segment left', async () => {
    const l = loc();
    const sink = await S3Sink.create(access, l, opts());
    sink.write('x\n');
    const st = await sink.sync();
    await sink.close();
    await expect(s3.client.send(new AbortMultipartUploadCommand({ Bucket: 'b', Key: l.key, UploadId: st.uploadId! }))).rejects.toMatchObject({ name: 'NoSuchUpload' });
    expect(await segmentsOf(l)).toEqual([]);
  });

  it('--s3-sse and --s3-kms-key-id go on every object it creates (upload, segments, single PutObject)', async () => {
    sseSeen.length = 0;
    const l = loc();
    const sink = await S3Sink.create(access, l, opts({ lazyHeader: 'h\n' }));
    sink.write('row\n');
    await sink.sync();
    await sink.close();
    const big = await S3Sink.create(access, loc(), opts());
    big.write('row\n');
    await big.sync();
    await big.close();
    const writes = sseSeen.filter((s) => s.op === 'PutObjectCommand' || s.op === 'CreateMultipartUploadCommand');
    expect(writes.map((w) => w.op)).toEqual(expect.arrayContaining(['PutObjectCommand', 'CreateMultipartUploadCommand']));
    for (const w of writes) expect(w).toMatchObject({ sse: 'aws:kms', kms: 'alias/exports' });
  });
});
