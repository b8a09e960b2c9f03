import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A STAND-IN for S3's conditional writes, in front of fauxqs (which ignores If-Match and
 * If-None-Match on PutObject and always writes): a PutObject carrying either header is checked
 * against the object's current ETag (a HEAD on fauxqs) and answered 412 PreconditionFailed as
 * S3 does when it fails; every other request is passed through unchanged.
 */
export async function conditionalWrites(upstream: string): Promise<{ endpoint: string; refused: () => number; close: () => Promise<void> }> {
  const up = new URL(upstream);
  let refused = 0;
  const forward = (req: IncomingMessage, body: Buffer, method = req.method!): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const r = request({ host: up.hostname, port: up.port, path: req.url, method, headers: method === 'HEAD' ? { host: req.headers.host } : req.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      r.on('error', reject);
      r.end(method === 'HEAD' ? undefined : body);
    });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const body = Buffer.concat(chunks);
        const ifMatch = req.headers['if-match'];
        const ifNoneMatch = req.headers['if-none-match'];
        if (req.method === 'PUT' && !req.url!.includes('uploadId=') && (ifMatch || ifNoneMatch)) {
          const head = await forward(req, body, 'HEAD');
          const etag = head.status === 200 ? String(head.headers.etag) : null;
          const fails = ifNoneMatch === '*' ? etag !== null : ifMatch !== undefined && ifMatch !== etag;
          if (fails) {
            refused++;
            res.writeHead(412, { 'content-type': 'application/xml' });
            res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
            return;
          }
        }
        const r = await forward(req, body);
        res.writeHead(r.status, r.headers as never);
        res.end(r.body);
      } catch (err) {
        res.writeHead(502);
        res.end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refused: () => refused,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
