import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Access } from '../../src/aws/s3client.js';
import { parseS3Url, type S3Location } from '../../src/aws/s3url.js';
import { ExitError } from '../../src/errors.js';
import { openS3Input } from '../../src/sources/s3.js';
import { type LocalS3, startS3 } from '../support/s3.js';

let s3: LocalS3;
let access: S3Access;
beforeAll(async () => {
  s3 = await startS3('in');
  Object.assign(process.env, s3.env);
  access = await S3Access.create({ pathStyle: true, partSize: 8 * 1024 * 1024 });
});
afterAll(async () => {
  access?.destroy();
  await s3?.stop();
});

const loc = (url: string) => parseS3Url(url) as S3Location;
async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

describe('--input s3://', () => {
  const body = 'user_id,device_id\n' + Array.from({ length: 200 }, (_, i) => `u${i},d${i}\n`).join('');

  it('identifies the object by size and ETag and streams it in ranges, from any offset', async () => {
    const etag = await s3.put('in', 'users.csv', body);
    const input = await openS3Input(loc('s3://in/users.csv'), access, 100);
    expect(input.identity).toEqual({ path: 's3://in/users.csv', size: body.length, etag });
    expect(await readAll(input.stream(0))).toBe(body);
    expect(await readAll(input.stream(18))).toBe(body.slice(18));
    expect(await readAll(input.stream(body.length))).toBe('');
  });

  it('fails, instead of mixing two files, when the object is replaced mid-read', async () => {
    await s3.put('in', 'moving.csv', body);
    const input = await openS3Input(loc('s3://in/moving.csv'), access, 64);
    const it = input.stream(0)[Symbol.asyncIterator]();
    await it.next();
    await s3.put('in', 'moving.csv', body.replace('u1,', 'x1,'));
    await expect((async () => {
      for (;;) if ((await it.next()).done) return;
    })()).rejects.toThrow(/the object changed during the run \(ETag "[0-9a-f]+" when it started/);
  });

  it('a missing object or bucket is exit 2 with one line naming the URL', async () => {
    for (const [url, why] of [
      ['s3://in/nope.csv', /^--input s3:\/\/in\/nope\.csv: no such object$/],
      ['s3://nobucket/users.csv', /^--input s3:\/\/nobucket\/users\.csv: no such bucket \(nobucket\)$/],
    ] as const) {
      const err = await openS3Input(loc(url), access).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExitError);
      expect((err as ExitError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(why);
    }
  });
});
