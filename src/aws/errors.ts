import { endpointHint } from './s3client.js';

/** What the SDK throws, as far as this code looks at it. */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  errors?: Array<{ code?: string }>;
}

const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);
const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'AllAccessDisabled', 'AccountProblem']);

export const s3Status = (err: unknown): number | undefined => (err as SdkError)?.$metadata?.httpStatusCode;
export const s3Name = (err: unknown): string => String((err as SdkError)?.name ?? '');

/** No such object (or bucket): GET answers NoSuchKey/NoSuchBucket, HEAD a bodiless 404 "NotFound". */
export const isNotFound = (err: unknown) => ['NoSuchKey', 'NoSuchBucket', 'NotFound'].includes(s3Name(err)) || (s3Status(err) === 404 && s3Name(err) !== 'NoSuchUpload');
export const isNoSuchUpload = (err: unknown) => s3Name(err) === 'NoSuchUpload';
export const isPreconditionFailed = (err: unknown) => s3Name(err) === 'PreconditionFailed' || s3Status(err) === 412;

/**
 * One line saying what went wrong with an S3 request, in words an operator can act on (no
 * stack, no XML). The caller prefixes the s3:// URL.
 */
export function describeS3Error(err: unknown, bucket?: string): string {
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  const code = e.code ?? e.errors?.find((x) => x.code)?.code;
  // The proxy's own words (net/proxy-errors.ts) already say what to change.
  if (name === 'ProxyError') return e.message ?? 'the proxy refused the request';
  if (name === 'NoSuchBucket') return bucket ? `no such bucket (${bucket})` : 'no such bucket';
  if (name === 'NoSuchUpload') return 'the multipart upload no longer exists (aborted, or a lifecycle rule expired it)';
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return 'no such object';
  if (name.startsWith('KMS.') || name.startsWith('KMS')) return `the KMS key was refused (${name}: ${e.message})`;
  if (DENIED.has(name) || status === 403) {
    // Without s3:ListBucket, S3 answers 403 rather than 404 for a key that does not exist.
    return `access denied (${name || 'HTTP 403'}; check the credentials, the bucket policy, and that the object exists)`;
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
    return 'no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an IAM role / EKS service account)';
  }
  if (/region is missing/i.test(e.message ?? '')) return 'no AWS region configured (set AWS_REGION)';
  if ((code && NETWORK.has(code)) || name === 'TimeoutError') return `cannot reach S3 at ${endpointHint()} (${code ?? name})`;
  const what = name && name !== 'Error' ? name : 'error';
  return `${what}${status ? ` (HTTP ${status})` : ''}: ${(e.message ?? String(err)).split('\n')[0]}`;
}
