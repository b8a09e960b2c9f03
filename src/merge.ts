import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { formatFromPath, type Format } from './config.js';
import { inputError, usageError } from './errors.js';

export interface MergeArgs {
  /** Shard files in order; or one `{shard}` template with `shards`. */
  inputs: string[];
  shards?: number | undefined;
  output: string;
  format?: string | undefined;
}

export interface MergeResult {
  files: number;
  bytes: number;
  /** Data lines written (CSV rows without headers; JSONL objects). */
  lines: number;
}

/** `out/shard-{shard}.csv` with 3 shards → the three paths, in shard order. */
export function mergeInputs(a: Pick<MergeArgs, 'inputs' | 'shards'>): string[] {
  if (a.shards === undefined) return a.inputs;
  if (a.inputs.length !== 1 || !a.inputs[0]!.includes('{shard}')) throw usageError('--shards needs exactly one input path containing {shard}');
  if (!Number.isInteger(a.shards) || a.shards < 1) throw usageError(`--shards expects a whole number of at least 1, got ${a.shards}`);
  return Array.from({ length: a.shards }, (_, i) => a.inputs[0]!.replaceAll('{shard}', String(i)));
}

/**
 * `merge`: joins shard outputs into one file with one header, for email tools that take one
 * file. Streams (nothing held per row); every CSV input must have the same header line. The
 * result appears at once (temp file + rename): an import job never picks up half a file.
 */
export async function runMerge(a: MergeArgs): Promise<MergeResult> {
  const inputs = mergeInputs(a).map((p) => resolve(p));
  if (inputs.length === 0) throw usageError('merge needs at least one input file');
  let format: Format = formatFromPath(a.output);
  if (a.format !== undefined) {
    if (a.format !== 'csv' && a.format !== 'jsonl') throw usageError(`--format expects csv or jsonl, got ${a.format}`);
    format = a.format;
  }
  for (const p of inputs) {
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile()) throw inputError(`merge: ${p}: no such file`);
  }
  const out = resolve(a.output);
  await mkdir(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w');
  const result: MergeResult = { files: inputs.length, bytes: 0, lines: 0 };
  let header: string | undefined;
  try {
    for (const p of inputs) {
      let first = format === 'csv';
      let carry = '';
      for await (const chunk of createReadStream(p, { encoding: 'utf8', highWaterMark: 256 * 1024 })) {
        let text = carry + (chunk as string);
        carry = '';
        if (first) {
          const nl = text.indexOf('\n');
          if (nl < 0) {
            carry = text;
            continue;
          }
          const line = text.slice(0, nl + 1);
          text = text.slice(nl + 1);
          first = false;
          if (header === undefined) {
            header = line;
            await write(line, false);
          } else if (line !== header) {
            throw inputError(`merge: ${p} has another header than ${inputs[0]} (${line.trim().slice(0, 80)}): not outputs of the same job`);
          }
        }
        await write(text, true);
      }
      if (carry) {
        // A CSV with a header and no newline at all: the header is the whole file.
        if (header === undefined) await write((header = carry.endsWith('\n') ? carry : `${carry}\n`), false);
        else if (carry.trimEnd() !== header.trimEnd()) throw inputError(`merge: ${p} has another header than ${inputs[0]}`);
      }
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, out);
  return result;

  async function write(text: string, data: boolean) {
    if (!text) return;
    const buf = Buffer.from(text);
    await fh.write(buf);
    result.bytes += buf.length;
    if (data) result.lines += countNewlines(buf);
  }
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}
