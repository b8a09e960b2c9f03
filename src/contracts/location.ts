/**
 * Where bytes come from or go to: the contract every side of the pipeline (sources, sinks,
 * checkpoint) and the options share. A leaf module: it imports nothing of the project.
 */
/** An object in S3 named by an `s3://bucket/key` URL. */
export interface S3Location {
  kind: 's3';
  /** As given (after `{date}` is filled): what messages and fingerprints name. */
  url: string;
  bucket: string;
  key: string;
}

/** Where bytes come from or go to. */
export type Location = { kind: 'file'; path: string } | { kind: 'stdio' } | S3Location;
