import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '../aws/s3-sdk.js';
import { describeS3Error, isNotFound, s3Name } from '../aws/errors.js';
import type { S3Access } from '../aws/s3client.js';
import type { S3Location } from '../aws/s3url.js';
import { ExitError } from '../errors.js';
import { type Checkpoint, type CheckpointStore, parseCheckpoint } from './state.js';

/**
 * A checkpoint object. PutObject replaces an object atomically (readers see the old or the
 * new one, never a mix), so no temporary object is needed; a corrupt one is refused as a
 * corrupt file is.
 */
export class CheckpointS3 implements CheckpointStore {
  readonly path: string;

  constructor(
    private readonly s3: S3Access,
    private readonly loc: S3Location,
  ) {
    this.path = loc.url;
  }

  async load(): Promise<Checkpoint | undefined> {
    let text: string;
    try {
      const r = await this.s3.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: this.loc.key }));
      text = await r.Body!.transformToString('utf8');
    } catch (err) {
      // NoSuchKey: no checkpoint yet. NoSuchBucket is a configuration error, said as such.
      if (isNotFound(err) && s3Name(err) !== 'NoSuchBucket') return undefined;
      throw new ExitError('output', `cannot read checkpoint ${this.path}: ${describeS3Error(err, this.loc.bucket)}`);
    }
    return parseCheckpoint(text, this.path);
  }

  async save(c: Checkpoint): Promise<void> {
    await this.s3.client.send(
      new PutObjectCommand({ Bucket: this.loc.bucket, Key: this.loc.key, Body: JSON.stringify(c, null, 1), ContentType: 'application/json', ...this.s3.sse }),
    );
  }

  async remove(): Promise<void> {
    await this.s3.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.loc.key }));
  }
}
