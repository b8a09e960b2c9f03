import type { S3Client } from '@aws-sdk/client-s3';
import type { Location } from '../contracts/location.js';
import type { EnvProxyAgent } from '../net/node-agent.js';
import { proxyConfigured } from '../net/proxy-env.js';
import { ProxyError } from '../net/proxy-errors.js';
import { isS3Url, parseS3Url } from './s3url.js';
import type { S3Settings, Sse } from './settings.js';

/**
 * One S3 client per export, made only when a location is on S3: a job without s3:// never
 * loads the SDK (about 100 ms) or looks for credentials. Configured the way AWS users expect, by the SDK itself:
 * - credentials: the default chain (env, shared config/profile, SSO, web identity for EKS
 *   service accounts, ECS/EC2 roles);
 * - region: AWS_REGION / the profile's region;
 * - endpoint: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (this SDK version reads both itself:
 *   @smithy/core getEndpointUrlConfig), or the profile's `endpoint_url`;
 * - retries: AWS_MAX_ATTEMPTS / AWS_RETRY_MODE (default 3 attempts, standard mode);
 * - proxy: https_proxy / HTTPS_PROXY, http_proxy, NO_PROXY as curl reads them (net/proxy-env.ts),
 *   which the SDK does not read by itself: a node agent that tunnels per request.
 * Checksums stay at the SDK default (CRC32 sent with every upload, checked on download): the
 * local test server (fauxqs 1.9.2) accepts them for the buffered bodies this code sends, so
 * 'WHEN_REQUIRED' is not needed; a store that rejects them is handled with the SDK's own
 * AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED, without a flag here.
 */
export class S3Access {
  private constructor(
    readonly client: S3Client,
    readonly settings: S3Settings,
    private readonly agent: EnvProxyAgent | undefined,
  ) {}

  static async create(settings: S3Settings): Promise<S3Access> {
    const { S3Client } = await import('./s3-sdk.js');
    // Loaded only with a proxy in the environment, like the SDK only with an s3:// location.
    const agent = proxyConfigured() ? new (await import('../net/node-agent.js')).EnvProxyAgent() : undefined;
    const client = new S3Client({
      forcePathStyle: settings.pathStyle,
      // An unreachable endpoint (a firewall dropping packets) fails in seconds, not after the
      // operating system's TCP timeout of about two minutes per attempt; a server that stops
      // answering mid-request fails after a minute of silence (then the SDK retries). Nothing
      // here keeps a connection idle on purpose: input ranges are read whole at once.
      requestHandler: { connectionTimeout: 5_000, socketTimeout: 60_000, ...(agent ? { httpAgent: agent, httpsAgent: agent } : {}) },
    });
    return new S3Access(client, settings, agent);
  }

  /** The encryption parameters of PutObject and CreateMultipartUpload. */
  get sse(): { ServerSideEncryption?: Sse; SSEKMSKeyId?: string } {
    const s = this.settings;
    if (!s.sse) return {};
    return s.kmsKeyId ? { ServerSideEncryption: s.sse, SSEKMSKeyId: s.kmsKeyId } : { ServerSideEncryption: s.sse };
  }

  /**
   * With a proxy in the environment, one cheap request (HeadBucket) before any user is read: a
   * proxy that is down or refuses the tunnel to S3 is a ProxyError now (exit 2), not after the
   * first users were fetched. Any answer from S3 itself (even 403 or 404) proves the way through
   * the proxy and is left to the real requests.
   */
  async checkProxy(bucket: string): Promise<void> {
    if (!this.agent) return;
    const { HeadBucketCommand } = await import('./s3-sdk.js');
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (err instanceof ProxyError) throw err;
    }
  }

  destroy(): void {
    this.client.destroy();
    this.agent?.destroy();
  }
}

/** S3 access for an export that reads or writes anything on S3; undefined when none does. */
export async function s3For(cfg: { input: Location; output: Location; errorsPath: string; checkpointPath: string | null; s3: S3Settings; state?: { path: string; removedPath: string | null } | null }): Promise<S3Access | undefined> {
  const onS3 = cfg.input.kind === 's3' || cfg.output.kind === 's3' || isS3Url(cfg.errorsPath) || (cfg.checkpointPath !== null && isS3Url(cfg.checkpointPath)) ||
    isS3Url(cfg.state?.path) || isS3Url(cfg.state?.removedPath ?? undefined);
  if (!onS3) return undefined;
  const s3 = await S3Access.create(cfg.s3);
  const first = [cfg.input, cfg.output].find((l) => l.kind === 's3')?.url ?? [cfg.checkpointPath, cfg.errorsPath].find((p) => isS3Url(p ?? undefined));
  const loc = first ? parseS3Url(first) : undefined;
  if (loc && typeof loc !== 'string') await s3.checkProxy(loc.bucket);
  return s3;
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
