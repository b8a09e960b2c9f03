/** S3 options, apart from the SDK so that config.ts can check them without loading it. */

export type Sse = 'AES256' | 'aws:kms';
export const SSE_VALUES: readonly string[] = ['AES256', 'aws:kms'] satisfies Sse[];

export const MIB = 1024 * 1024;
/** S3 refuses parts under 5 MiB (but the last) and numbers above 10,000. */
export const MIN_PART_MIB = 5;
export const MAX_PART_MIB = 5 * 1024;

/** The S3 options of an export (flags group "S3:"). */
export interface S3Settings {
  /** Path-style addressing (`endpoint/bucket/key`), for S3-compatible stores. @default false */
  pathStyle: boolean;
  /** Server-side encryption of every object written (output, segments, errors, checkpoint). */
  sse?: Sse | undefined;
  /** KMS key for `sse: 'aws:kms'`; the bucket's default KMS key when absent. */
  kmsKeyId?: string | undefined;
  /**
   * Bytes per multipart part, and so about the most the output sink holds in memory between
   * parts; the largest export is 10,000 parts. @default 8 MiB
   */
  partSize: number;
}
