import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { needS3, type S3Access } from '../aws/s3client.js';
import type { Location } from '../contracts/location.js';
import { inputError } from '../errors.js';
import type { OpenedInput } from './input.js';

export type { OpenedInput };

/** Checks the input exists and is a readable file before anything else happens. */
export async function openInput(loc: Location, stdin: Readable = process.stdin, s3?: S3Access): Promise<OpenedInput> {
  if (loc.kind === 'stdio') {
    return { name: 'stdin', identity: null, stream: () => stdin, unchanged: async () => undefined };
  }
  if (loc.kind === 's3') {
    const { openS3Input } = await import('./s3.js');
    return openS3Input(loc, needS3(s3));
  }
  const path = loc.path;
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw inputError(code === 'ENOENT' ? `--input ${path}: no such file` : `--input ${path}: cannot read (${code})`);
  }
  if (!st.isFile()) throw inputError(`--input ${path}: not a regular file`);
  // Opening now surfaces a permission problem as exit 2 before any request.
  await new Promise<void>((resolve, reject) => {
    const s = createReadStream(path, { start: 0, end: 0 });
    s.once('open', () => {
      s.destroy();
      resolve();
    });
    s.once('error', (err: NodeJS.ErrnoException) => reject(inputError(`--input ${path}: cannot read (${err.code})`)));
  });
  const { size, mtimeMs } = st;
  return {
    name: path,
    identity: { path, size, mtimeMs },
    // Only the bytes the run fingerprinted: rows appended meanwhile are not half read.
    stream: (offset = 0) => (offset >= size ? Readable.from([], { objectMode: false }) : createReadStream(path, { start: offset, end: size - 1, highWaterMark: 256 * 1024 })),
    unchanged: async () => {
      const now = await stat(path).catch(() => null);
      if (now && now.size === size && now.mtimeMs === mtimeMs) return;
      const was = `${size} bytes, modified ${new Date(mtimeMs).toISOString()} when the run started`;
      const is = now ? `${now.size} bytes, modified ${new Date(now.mtimeMs).toISOString()} now` : 'gone now';
      throw inputError(
        `--input ${path} changed during the run (${was}; ${is}): the output holds the rows of the file as it was, and a row written meanwhile may be missing or cut short; rerun with --fresh to export it as it is now`,
      );
    },
  };
}
