import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { startFauxqs, type FauxqsServer } from 'fauxqs';

// On Node 20 the SDK warns on every start that later releases need Node 22; the spawned CLI
// inherits this, so its stderr holds only what the tests look at.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export interface LocalS3 {
  server: FauxqsServer;
  endpoint: string;
  client: S3Client;
  /** What the CLI needs in its environment to reach this server (the SDK's own variables). */
  env: Record<string, string>;
  put(bucket: string, key: string, body: string | Buffer): Promise<string>;
  get(bucket: string, key: string): Promise<Buffer | undefined>;
  exists(bucket: string, key: string): Promise<boolean>;
  keys(bucket: string, prefix?: string): Promise<string[]>;
  remove(bucket: string, key: string): Promise<void>;
  stop(): Promise<void>;
}

/** fauxqs on 127.0.0.1:0 with `buckets` created: the real S3 protocol, in-process. */
export async function startS3(...buckets: string[]): Promise<LocalS3> {
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const credentials = { accessKeyId: 'test-key', secretAccessKey: 'test-secret' };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  for (const b of buckets) await client.send(new CreateBucketCommand({ Bucket: b }));
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  return {
    server,
    endpoint,
    client,
    env,
    async put(bucket, key, body) {
      return (await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))).ETag!;
    },
    async get(bucket, key) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (err) {
        if ((err as Error).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async exists(bucket, key) {
      return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
        () => true,
        () => false,
      );
    },
    async keys(bucket, prefix) {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        out.push(...(r.Contents ?? []).map((o) => o.Key!));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async remove(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async stop() {
      client.destroy();
      await server.stop();
    },
  };
}
