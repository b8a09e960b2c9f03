import type { JobFingerprint } from '../contracts/job.js';
import type { Counts, S3SinkState, SplitPart } from '../contracts/positions.js';
import { ExitError } from '../errors.js';

export type { JobFingerprint };

export const CHECKPOINT_VERSION = 1;

export interface Checkpoint {
  version: typeof CHECKPOINT_VERSION;
  job: JobFingerprint;
  /** The whole input was exported. */
  done: boolean;
  /**
   * Where reading resumes. `header`: the names of the input columns the output reads (ids,
   * passthrough, a preset's email) and `columns` their positions in the input's header, so
   * that a wide input costs the checkpoint only what the output needs; without `columns`
   * (checkpoints written before it), `header` is the whole header.
   */
  input: { offset: number; feeds: number; line: number; header: string[]; columns?: number[] };
  outputBytes: number;
  errorsBytes: number;
  counts: Counts;
  requests: number;
  updatedAt: string;
  /** What a resume of an S3 output (errors file) needs beyond its length; absent for local files. */
  outputState?: S3SinkState;
  errorsState?: S3SinkState;
  /** A split output's current file; `outputBytes` is then the total over all its files. */
  outputPart?: SplitPart;
  /** With --state: what a resume needs to finish the state (README "Incremental exports"). */
  state?: CheckpointState;
}

/** The state's part of a checkpoint. */
export interface CheckpointState {
  /** This run's id: the state records the run whose results it holds. */
  run: string;
  /** The state's last run when this run started: a resume compares with the same state. */
  base: string | null;
  delta: boolean;
  reset: boolean;
  /** Committed length of the staging file (every user's new content, unchanged ones included). */
  stagingBytes: number;
  /** An S3 staging object's upload, as `outputState`. */
  stagingState?: S3SinkState;
  /** The run's fetch time (epoch ms): its rows' fetched_at, and the --max-age cut-off. */
  at?: number;
  /** --refresh-budget (requests) and --max-age (ms) the run planned with; absent when neither. */
  refresh?: { budget: number | null; maxAgeMs: number | null };
}

/** Names of what differs between two jobs, in words a person can act on; empty when equal. */
/** Where a checkpoint lives: a local file or an S3 object; either is replaced atomically. */
export interface CheckpointStore {
  /** Its path or s3:// URL, for messages. */
  readonly path: string;
  /** undefined when there is none; a refused ExitError when it cannot be trusted. */
  load(): Promise<Checkpoint | undefined>;
  save(c: Checkpoint): Promise<void>;
  remove(): Promise<void>;
}

/** The same input location whose content changed (size, mtime or ETag): its job cannot be resumed any more. */
export function inputChanged(saved: JobFingerprint, now: JobFingerprint): boolean {
  const [a, b] = [saved.input, now.input];
  return a.path === b.path && (a.size !== b.size || a.mtimeMs !== b.mtimeMs || a.etag !== b.etag);
}

/** Names of what differs between two jobs, in words a person can act on; empty when equal. */
export function differences(saved: JobFingerprint, now: JobFingerprint): string[] {
  const out: string[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (saved.input.path !== now.input.path) out.push(`input path (${saved.input.path} then, ${now.input.path} now)`);
  else if (saved.input.etag !== undefined || now.input.etag !== undefined) {
    if (saved.input.etag !== now.input.etag || saved.input.size !== now.input.size) {
      out.push(`input object changed (ETag ${saved.input.etag} then, ${now.input.etag} now)`);
    }
  } else if (saved.input.size !== now.input.size || saved.input.mtimeMs !== now.input.mtimeMs) {
    out.push(`input file changed (${saved.input.size} bytes then, ${now.input.size} bytes now, modified ${new Date(now.input.mtimeMs ?? 0).toISOString()})`);
  }
  // Both sides' keys, absent = null: a key added later (esp) does not set apart a job saved before it.
  for (const k of new Set([...Object.keys(saved), ...Object.keys(now)]) as Set<keyof JobFingerprint>) {
    if (k === 'input') continue;
    if (!same(saved[k] ?? null, now[k] ?? null)) out.push(`${k} (${JSON.stringify(saved[k] ?? null)} then, ${JSON.stringify(now[k] ?? null)} now)`);
  }
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Structural check of a parsed checkpoint; returns what is wrong, or null. */
export function invalidReason(v: unknown): string | null {
  if (!isObj(v)) return 'not a JSON object';
  if (v.version !== CHECKPOINT_VERSION) return `version ${JSON.stringify(v.version)}, expected ${CHECKPOINT_VERSION}`;
  if (!isObj(v.job) || !isObj(v.job.input)) return 'no job fingerprint';
  const i = v.input;
  if (!isObj(i) || !isNum(i.offset) || !isNum(i.feeds) || !isNum(i.line) || !Array.isArray(i.header)) return 'no input position';
  if (i.columns !== undefined && (!Array.isArray(i.columns) || i.columns.length !== i.header.length || !i.columns.every(isNum))) return 'no input column positions';
  if (!isNum(v.outputBytes) || !isNum(v.errorsBytes)) return 'no committed output lengths';
  if (!isObj(v.counts) || typeof v.done !== 'boolean') return 'no counts';
  for (const k of ['outputState', 'errorsState'] as const) {
    const st = v[k];
    if (st === undefined) continue;
    if (!isObj(st) || typeof st.bucket !== 'string' || typeof st.key !== 'string' || !(st.uploadId === null || typeof st.uploadId === 'string')) return `no S3 upload in ${k}`;
    if (!Array.isArray(st.parts) || !Array.isArray(st.segments) || !isNum(st.bytes)) return `no parts or segments in ${k}`;
  }
  const part = v.outputPart;
  const st = v.state;
  if (st !== undefined && (!isObj(st) || typeof st.run !== 'string' || !isNum(st.stagingBytes) || typeof st.delta !== 'boolean' || typeof st.reset !== 'boolean')) return 'no run or staging length in state';
  if (part !== undefined && (!isObj(part) || !isNum(part.index) || part.index < 1 || !isNum(part.bytes) || !isNum(part.rows))) return 'no current file in outputPart';
  return null;
}

/** A checkpoint's text, checked; a refused ExitError when it cannot be trusted. */
export function parseCheckpoint(text: string, path: string): Checkpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const why = parsed === undefined ? 'not valid JSON (truncated?)' : invalidReason(parsed);
  if (why) {
    throw new ExitError(
      'checkpoint',
      `checkpoint ${path} is corrupt (${why}); resuming from it could lose or double rows: rerun with --fresh to start over`,
    );
  }
  return parsed as Checkpoint;
}
