/**
 * The job a checkpoint belongs to: the input's identity and every option that decides the
 * output's bytes. Sources produce the identity, the checkpoint compares fingerprints. A leaf.
 */
/** Everything that decides the output's bytes: a checkpoint is only valid for the same job. */
export interface JobFingerprint {
  /** A local file: its size and mtime. An S3 object: its size and ETag (no mtime). */
  input: { path: string; size: number; mtimeMs?: number; etag?: string };
  output: string;
  errors: string;
  format: string;
  userIdColumn: string;
  deviceIdColumn: string;
  recIds: string[];
  recType: string | null;
  predictionIds: string[];
  propensityType: string | null;
  ampProps: boolean;
  cohortIds: boolean;
  computations: boolean;
  compIds: string[];
  maxItems: number | null;
  escapeFormulas: boolean;
  /** --preset, --passthrough, --control, --split-*: null when all are at their defaults. */
  esp?: Record<string, unknown> | null;
}
