/**
 * The SDK classes s3client.ts constructs, re-exported statically, so that it can load them on
 * demand with a dynamic import of this module. The bundle holds the SDK (one file loads faster
 * than its few hundred modules: an S3 run starts about 100 ms sooner), and a dynamic import of
 * the CommonJS SDK itself would give the bundle only its default export.
 */
export { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
