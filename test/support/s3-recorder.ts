import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in in front of fauxqs that forwards every request unchanged and records its method
 * and URL: fauxqs has no ListMultipartUploads, so a test sees which uploads were created,
 * completed or aborted here instead.
 */
export interface S3Recorder {
  endpoint: string;
  seen: Array<{ method: string; url: string }>;
  close(): Promise<void>;
}

export async function recordS3(target: string): Promise<S3Recorder> {
  const to = new URL(target);
  const seen: S3Recorder['seen'] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url! });
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
