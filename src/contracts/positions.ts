/**
 * Where a run stands, as the checkpoint records it and the sides report it: counts, a split
 * output's current file, an S3 upload's parts. Shared by sinks, checkpoint and pipeline so
 * that none of them imports another's internals. A leaf module.
 */

/** What the run did, per status: the summary, the checkpoint and the exit code read these. */
export interface Counts {
  /** Input rows with an id. */
  users: number;
  ok: number;
  no_recs: number;
  unknown_user: number;
  /** Users whose requests failed for good (in the errors file). */
  failed: number;
  /** Input rows that could not be used (no id, unreadable; in the errors file). */
  skipped: number;
  /** Output rows written (CSV rows or JSONL lines). */
  rows: number;
  /** Rows `--control drop` left out (control-group recs); present only in that mode. */
  control_dropped?: number;
  /** With --state: users whose rows are the same as the state's (not written with --delta). */
  unchanged?: number;
  /** With --state: users the state held that the input lacks (they leave the state; in the --removed file). */
  removed?: number;
  /** With --state: users asked tonight (ok, no_recs and unknown_user above). */
  refreshed?: number;
  /** With --refresh-budget/--max-age: users written as the state last stored them, not asked tonight. */
  carried?: number;
  /** With --refresh-budget: users never fetched whom tonight's budget did not reach (status not_fetched). */
  not_fetched?: number;
  /** With --state: the oldest fetch time (epoch ms) of a row written; null before any. */
  oldest_fetched_at?: number | null;
}

/** Where a split output stands: what a checkpoint records to resume it (with the total `bytes`). */
export interface SplitPart {
  /** The current file, 1-based (`out-00001.csv`). */
  index: number;
  /** Its length, header included. */
  bytes: number;
  /** Its data rows. */
  rows: number;
}

/**
 * What a checkpoint records so that another process can carry on writing the same object:
 * the open multipart upload and its parts (fauxqs, the test server, has no ListParts, and
 * asking S3 would not say which parts a checkpoint covers), then the segment objects holding
 * the bytes after the last part. parts + segments = `bytes`, the committed length.
 */
export interface S3SinkState {
  bucket: string;
  key: string;
  /** null while no multipart upload is needed (a lazy sink that has not cut a part). */
  uploadId: string | null;
  /** Parts 1..n in order; `crc32` when S3 answered one (CompleteMultipartUpload needs it back). */
  parts: Array<{ n: number; etag: string; bytes: number; crc32?: string }>;
  /** Objects under `<key>.parts/`, in order; `level` drives their merging (see putSegment). */
  segments: Array<{ key: string; bytes: number; level: number }>;
  bytes: number;
}

/** Each file at most this many data rows / bytes (header included); null: no limit. */
export interface SplitLimits {
  rows: number | null;
  bytes: number | null;
}
