import { needS3, type S3Access } from '../aws/s3client.js';
import { isS3Url, parseS3Url, type S3Location } from '../aws/s3url.js';
import type { Checkpoint } from '../checkpoint/state.js';
import type { ExportConfig } from '../config.js';
import { errorsHeader } from '../output/errors.js';
import { FileSink } from '../sinks/file.js';
import { LazyFileSink } from '../sinks/lazy.js';
import type { S3SinkOptions } from '../sinks/s3.js';
import type { Sink } from '../sinks/sink.js';
import { SplitSink } from '../sinks/split.js';
import { StreamSink } from '../sinks/stdout.js';

/**
 * The output sink: a file, an S3 object, or stdout; resumed from `from` when given. A split
 * output (local files only, config.ts refuses the rest) is numbered files each starting with `header`.
 */
export async function openOutput(cfg: ExportConfig, s3: S3Access | undefined, from: Checkpoint | undefined, stdout: NodeJS.WritableStream | undefined, header = ''): Promise<Sink> {
  const out = cfg.output;
  if (out.kind === 'file' && cfg.esp.split) {
    if (!from) return SplitSink.create(out.path, header, cfg.esp.split);
    if (!from.outputPart) throw new Error('the checkpoint of a split output names no current file');
    return SplitSink.resume(out.path, header, cfg.esp.split, from.outputPart, from.outputBytes);
  }
  if (out.kind === 'file') return FileSink.open(out.path, from?.outputBytes);
  if (out.kind === 's3') {
    const { S3Sink } = await import('../sinks/s3.js');
    const o = outputOptions(cfg);
    return from ? S3Sink.resume(needS3(s3), out, o, from.outputState, from.outputBytes) : S3Sink.create(needS3(s3), out, o);
  }
  return new StreamSink(stdout as never);
}

/** The errors file: created only when something goes in it, locally or on S3. */
export async function openErrors(cfg: ExportConfig, s3: S3Access | undefined, from: Checkpoint | undefined): Promise<Sink> {
  const loc = errorsLocation(cfg);
  if (!loc) return LazyFileSink.open(cfg.errorsPath, errorsHeader(), from?.errorsBytes ?? 0);
  const { S3Sink } = await import('../sinks/s3.js');
  const o = errorsOptions(cfg);
  return from ? S3Sink.resume(needS3(s3), loc, o, from.errorsState, from.errorsBytes) : S3Sink.create(needS3(s3), loc, o);
}

/**
 * A finished job run again: its S3 objects exist (a kill after the checkpoint marked done
 * but before CompleteMultipartUpload is finished now, from the checkpoint).
 */
export async function finishUploads(cfg: ExportConfig, s3: S3Access | undefined, done: Checkpoint): Promise<void> {
  const loc = errorsLocation(cfg);
  if (cfg.output.kind !== 's3' && !loc) return;
  const { S3Sink } = await import('../sinks/s3.js');
  if (cfg.output.kind === 's3') await S3Sink.recover(needS3(s3), cfg.output, outputOptions(cfg), done.outputState, done.outputBytes);
  if (loc) await S3Sink.recover(needS3(s3), loc, errorsOptions(cfg), done.errorsState, done.errorsBytes);
}

/** `--fresh`, or a finished job replaced by another: abort the old uploads, delete their segments. */
export async function discardUploads(s3: S3Access | undefined, old: Checkpoint): Promise<void> {
  const states = [old.outputState, old.errorsState].filter((st) => st !== undefined);
  if (states.length === 0 || !s3) return;
  const { discard } = await import('../sinks/s3.js');
  for (const st of states) await discard(s3, st);
}

function outputOptions(cfg: ExportConfig): S3SinkOptions {
  return { partSize: cfg.s3.partSize, flag: '--output', contentType: cfg.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson' };
}

function errorsOptions(cfg: ExportConfig): S3SinkOptions {
  return { partSize: cfg.s3.partSize, flag: '--errors', contentType: 'text/csv; charset=utf-8', lazyHeader: errorsHeader() };
}

function errorsLocation(cfg: ExportConfig): S3Location | undefined {
  if (!isS3Url(cfg.errorsPath)) return undefined;
  const loc = parseS3Url(cfg.errorsPath);
  if (typeof loc === 'string') throw new Error(`--errors ${cfg.errorsPath}: ${loc}`);
  return loc;
}
