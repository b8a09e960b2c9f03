import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for S3's conditional writes, in front of fauxqs (which ignores them): PutObject and
 * DeleteObject with `If-None-Match: *` on an existing key, or `If-Match` with another ETag, are
 * answered 412 PreconditionFailed as S3 does (`If-Match` on a missing key: 404 NoSuchKey);
 * everything else goes to fauxqs unchanged. Writes pass one at a time, so a check and the write
 * it guards are atomic, as they are in S3.
 */
export interface ConditionalS3 {
  endpoint: string;
  /** The environment the CLI needs to go through this stand-in (the SDK's own variables). */
  env: Record<string, string>;
  /** Requests answered 412 so far. */
  refused: number;
  close(): Promise<void>;
}

export async function startConditionalS3(upstream: string, env: Record<string, string>): Promise<ConditionalS3> {
  const target = new URL(upstream);
  let writes: Promise<void> = Promise.resolve();
  const state = { refused: 0 };

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) =>
    new Promise<void>((resolve) => {
      const up = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
          r.on('end', resolve);
          r.on('error', resolve);
        },
      );
      up.on('error', () => {
        res.writeHead(502).end();
        resolve();
      });
      up.end(body);
    });

  /** The object's ETag at fauxqs, or null when there is none. */
  const etagOf = async (path: string): Promise<string | null> => {
    const r = await fetch(new URL(path, upstream), { method: 'HEAD' });
    return r.status === 200 ? r.headers.get('etag') : null;
  };

  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    if (status === 412) state.refused++;
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const ifNoneMatch = req.headers['if-none-match'];
      const ifMatch = req.headers['if-match'];
      const conditional = (req.method === 'PUT' || req.method === 'DELETE') && (ifNoneMatch !== undefined || ifMatch !== undefined);
      if (req.method === 'GET' || req.method === 'HEAD') return void forward(req, res, body);
      writes = writes.then(async () => {
        if (conditional) {
          const path = (req.url ?? '/').split('?')[0]!;
          const etag = await etagOf(path);
          if (ifNoneMatch === '*' && etag !== null) return fail(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
          if (ifMatch !== undefined && etag === null) return fail(res, 404, 'NoSuchKey', 'The specified key does not exist.');
          if (ifMatch !== undefined && ifMatch !== etag) return fail(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
        }
        await forward(req, res, body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    env: { ...env, AWS_ENDPOINT_URL_S3: endpoint },
    get refused() {
      return state.refused;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
