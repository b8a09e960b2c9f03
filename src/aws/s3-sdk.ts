import { createRequire } from 'node:module';

/**
 * The AWS SDK's S3 client, for the S3 modules alone (a run without s3:// never loads it: see
 * the architecture test). Loaded with require(), not import(): Node's import() of a CommonJS
 * package first scans its source for the names it exports (cjs-module-lexer), and
 * client-s3's is large: about 235 ms of CPU for import(), 135 ms for require() (4 runs each).
 */
const sdk = createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');

export const {
  S3Client,
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} = sdk;
