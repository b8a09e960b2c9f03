import { describe, expect, it } from 'vitest';
import { describeS3Error } from '../../src/aws/errors.js';
import { parseS3Url } from '../../src/aws/s3url.js';

// fauxqs accepts any credentials and has no bucket policies, so a 403 cannot be provoked
// there: these are the shapes the SDK throws for real S3 (name, $metadata.httpStatusCode).
const sdkError = (name: string, status?: number, message = 'message') => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe('describeS3Error: one line an operator can act on', () => {
  it('access denied, whether S3 says AccessDenied or a bodiless HEAD 403', () => {
    expect(describeS3Error(sdkError('AccessDenied', 403))).toMatch(/^access denied \(AccessDenied; check the credentials, the bucket policy, and that the object exists\)$/);
    expect(describeS3Error(sdkError('Forbidden', 403))).toMatch(/^access denied \(Forbidden;/);
    expect(describeS3Error(sdkError('InvalidAccessKeyId', 403))).toMatch(/^access denied \(InvalidAccessKeyId/);
    expect(describeS3Error(sdkError('ExpiredToken', 400))).toMatch(/^access denied \(ExpiredToken/);
  });

  it('missing bucket or object, a vanished upload, a refused KMS key', () => {
    expect(describeS3Error(sdkError('NoSuchBucket', 404), 'exports')).toBe('no such bucket (exports)');
    expect(describeS3Error(sdkError('NotFound', 404))).toBe('no such object');
    expect(describeS3Error(sdkError('NoSuchUpload', 404))).toMatch(/^the multipart upload no longer exists/);
    expect(describeS3Error(sdkError('KMS.DisabledException', 400, 'key is disabled'))).toBe('the KMS key was refused (KMS.DisabledException: key is disabled)');
  });

  it('network, credentials and region problems', () => {
    expect(describeS3Error(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }))).toMatch(/^cannot reach S3 at .* \(ETIMEDOUT\)$/);
    expect(describeS3Error(Object.assign(new Error('getaddrinfo'), { code: 'ENOTFOUND' }))).toMatch(/\(ENOTFOUND\)$/);
    expect(describeS3Error(sdkError('TimeoutError'))).toMatch(/\(TimeoutError\)$/);
    expect(describeS3Error(sdkError('CredentialsProviderError', undefined, 'Could not load credentials from any providers'))).toMatch(/^no AWS credentials found/);
    expect(describeS3Error(new Error('Region is missing'))).toBe('no AWS region configured (set AWS_REGION)');
  });

  it('anything else: its name, status and first line', () => {
    expect(describeS3Error(sdkError('SlowDown', 503, 'Please reduce your request rate.\nmore'))).toBe('SlowDown (HTTP 503): Please reduce your request rate.');
  });
});

describe('parseS3Url', () => {
  it('splits bucket and key, keeping the key verbatim', () => {
    expect(parseS3Url('s3://b/a/b c+{x}.csv')).toEqual({ kind: 's3', url: 's3://b/a/b c+{x}.csv', bucket: 'b', key: 'a/b c+{x}.csv' });
    expect(parseS3Url('s3://b')).toBe('no key (expected s3://bucket/key)');
    expect(parseS3Url('s3:///k')).toBe('no bucket (expected s3://bucket/key)');
    expect(parseS3Url('s3://b/dir/')).toBe('the key ends with / (a folder, not an object)');
  });
});
