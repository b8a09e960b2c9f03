import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { needS3, type S3Access } from '../aws/s3client.js';
import type { Location } from '../contracts/location.js';
import { inputError } from '../errors.js';
import type { OpenedInput } from './input.js';

export type { OpenedInput };

/** Checks the input exists and is a readable file before anything else happens. */
export async function openInput(loc: Location, stdin: Readable = process.stdin, s3?: S3Access): Promise<OpenedInput> {
  if (loc.kind === 'stdio') {
    return { name: 'stdin', identity: null, stream: () => stdin };
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
  return {
    name: path,
    identity: { path, size: st.size, mtimeMs: st.mtimeMs },
    stream: (offset = 0) => createReadStream(path, { start: offset, highWaterMark: 256 * 1024 }),
  };
}
