import type { S3Client } from '@aws-sdk/client-s3';
import type { ExportConfig } from '../config.js';
import { isS3Url } from './s3url.js';
import type { S3Settings, Sse } from './settings.js';

/**
 * One S3 client per export, made only when a location is on S3: a job without s3:// never
 * loads the SDK (about 100 ms) or looks for credentials. Configured the way AWS users expect, by the SDK itself:
 * - credentials: the default chain (env, shared config/profile, SSO, web identity for EKS
 *   service accounts, ECS/EC2 roles);
 * - region: AWS_REGION / the profile's region;
 * - endpoint: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (this SDK version reads both itself:
 *   @smithy/core getEndpointUrlConfig), or the profile's `endpoint_url`;
 * - retries: AWS_MAX_ATTEMPTS / AWS_RETRY_MODE (default 3 attempts, standard mode).
 * Checksums stay at the SDK default (CRC32 sent with every upload, checked on download): the
 * local test server (fauxqs 1.9.2) accepts them for the buffered bodies this code sends, so
 * 'WHEN_REQUIRED' is not needed; a store that rejects them is handled with the SDK's own
 * AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED, without a flag here.
 */
export class S3Access {
  private constructor(
    readonly client: S3Client,
    readonly settings: S3Settings,
  ) {}

  static async create(settings: S3Settings): Promise<S3Access> {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const client = new S3Client({
      forcePathStyle: settings.pathStyle,
      // An unreachable endpoint (a firewall dropping packets) fails in seconds, not after the
      // operating system's TCP timeout of about two minutes per attempt; a server that stops
      // answering mid-request fails after a minute of silence (then the SDK retries). Nothing
      // here keeps a connection idle on purpose: input ranges are read whole at once.
      requestHandler: { connectionTimeout: 5_000, socketTimeout: 60_000 },
    });
    return new S3Access(client, settings);
  }

  /** The encryption parameters of PutObject and CreateMultipartUpload. */
  get sse(): { ServerSideEncryption?: Sse; SSEKMSKeyId?: string } {
    const s = this.settings;
    if (!s.sse) return {};
    return s.kmsKeyId ? { ServerSideEncryption: s.sse, SSEKMSKeyId: s.kmsKeyId } : { ServerSideEncryption: s.sse };
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** S3 access for an export that reads or writes anything on S3; undefined when none does. */
export async function s3For(cfg: ExportConfig): Promise<S3Access | undefined> {
  const onS3 = cfg.input.kind === 's3' || cfg.output.kind === 's3' || isS3Url(cfg.errorsPath) || (cfg.checkpointPath !== null && isS3Url(cfg.checkpointPath)) ||
    isS3Url(cfg.state?.path) || isS3Url(cfg.state?.removedPath ?? undefined);
  return onS3 ? S3Access.create(cfg.s3) : undefined;
}

/** For code that only runs with an S3 location. */
export function needS3(s3: S3Access | undefined): S3Access {
  if (!s3) throw new Error('an s3:// location without S3 access');
  return s3;
}

/** Where requests go, for messages: the configured endpoint, or AWS itself. */
export function endpointHint(): string {
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || `AWS S3${process.env.AWS_REGION ? ` (${process.env.AWS_REGION})` : ''}`;
}
