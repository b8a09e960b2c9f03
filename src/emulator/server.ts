/**
 * A local Profile API on plain node:http: the documented answers and errors (docs/profile-api.md, "Errors"),
 * an org-wide throttle, seeded faults and counters for tests and benchmarks.
 *
 * Order per request: path (404) -> throttle (429) -> faults -> auth (401) -> id (400) ->
 * lookup (not seen before) -> 200. `GET /__emulator/stats` answers the stats and is not
 * counted anywhere, so reading them does not change them.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { performance } from 'node:perf_hooks';
import { INVALID_KEY_ERROR, MISSING_KEY_ERROR, THROTTLED_ERROR, UNKNOWN_USER_ERROR } from '../api/types.js';
import { FaultInjector, type FaultKind, type FaultOptions } from './faults.js';
import { ProfileIndex, type ProfileFixture } from './profiles.js';
import { buildUserData, parseProfileQuery, type ResponseShape } from './respond.js';
import { StatsRecorder, type EmulatorStats } from './stats.js';
import { SlidingWindowThrottle } from './throttle.js';

export type { FaultKind, FaultOptions } from './faults.js';
export type { ProfileFixture } from './profiles.js';
export type { EmulatorStats } from './stats.js';

export interface EmulatorOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  profiles: ProfileFixture[];
  /** Ids not in the fixtures get a generated profile, except ids containing `unknown`. @default false */
  synthetic?: boolean;
  /** Answers as of this night: about one user in ten changes at each epoch (synthetic.ts `changedAt`). @default 0 */
  epoch?: number;
  /** The only key accepted. */
  secretKey: string;
  /** Requests per window; 0 = no throttle. @default 600 */
  rateLimit?: number;
  /** @default 60000 */
  rateIntervalMs?: number;
  /** Status of the "not seen before" answer (undocumented upstream). @default 400 */
  unknownStatus?: 200 | 400 | 404;
  /** @default 'official' */
  shape?: ResponseShape;
  /** @default null (no faults) */
  faults?: FaultOptions | null;
  /** Serve https with this certificate and key (PEM) instead of plain http. @default undefined */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * The first request on each connection arrives this much later, as behind a TLS or proxy
   * handshake: it is counted (and throttled) only then. @default 0
   */
  handshakeMs?: number;
  /** Keep arrival times and per-id counts (memory: about 8 bytes per request plus one map entry per id). @default false */
  record?: boolean;
}

export interface RunningEmulator {
  url: string;
  port: number;
  stats(): EmulatorStats;
  /** Distinct ids requested since the last reset (needs `record`); unlike stats(), O(1). */
  asked(): number;
  setFaults(f: FaultOptions | null): void;
  setSecretKey(k: string): void;
  resetStats(): void;
  close(): Promise<void>;
}

const API_PATH = '/v1/userprofile';
const STATS_PATH = '/__emulator/stats';
const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const errorBody = (message: string): Buffer => Buffer.from(JSON.stringify({ error: message }));
const THROTTLED_BODY = errorBody(THROTTLED_ERROR);
const UNKNOWN_BODY = errorBody(UNKNOWN_USER_ERROR);
const NO_ID_BODY = errorBody('user_id or device_id is required');
const FAULT_TEXT: Record<string, string> = { '500': 'Internal Server Error', '503': 'Service Unavailable' };

export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const host = options.host ?? '127.0.0.1';
  const rateLimit = options.rateLimit ?? 600;
  const windowMs = options.rateIntervalMs ?? 60_000;
  const unknownStatus = options.unknownStatus ?? 400;
  const shape = options.shape ?? 'official';
  if (!(Number.isInteger(rateLimit) && rateLimit >= 0)) throw new RangeError(`rateLimit: expected an integer >= 0, got ${rateLimit}`);
  const index = new ProfileIndex(options.profiles, options.synthetic ?? false, options.epoch ?? 0);
  const throttle = rateLimit > 0 ? new SlidingWindowThrottle(rateLimit, windowMs) : null;
  let secretKey = options.secretKey;
  let faults = makeInjector(options.faults ?? null);
  const slowTimers = new Set<NodeJS.Timeout>();
  const stats = new StatsRecorder(options.record ?? false, throttle ? windowMs : 60_000);

  function send(res: ServerResponse, status: number, body: Buffer | string, type: string, extra?: Record<string, string>): void {
    stats.status(status);
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  /** The answer an authorised request would get: status and JSON body. */
  function answerFor(params: URLSearchParams, userId: string, deviceId: string): [number, Buffer | string] {
    if (userId === '' && deviceId === '') return [400, NO_ID_BODY];
    const query = parseProfileQuery(params);
    const profile = index.find(userId, deviceId, query);
    if (!profile) return [unknownStatus, UNKNOWN_BODY];
    return [200, JSON.stringify({ userData: buildUserData(profile, query, shape) })];
  }

  function serve(req: IncomingMessage, res: ServerResponse, params: URLSearchParams, userId: string, deviceId: string): void {
    const auth = req.headers.authorization;
    const key = auth?.startsWith('Api-Key ') ? auth.slice(8).trim() : '';
    if (key === '') return send(res, 401, MISSING_KEY_ERROR, TEXT_TYPE);
    if (key !== secretKey) return send(res, 401, INVALID_KEY_ERROR, TEXT_TYPE);
    const [status, body] = answerFor(params, userId, deviceId);
    send(res, status, body, JSON_TYPE);
  }

  function injectFault(kind: FaultKind, req: IncomingMessage, res: ServerResponse, params: URLSearchParams, userId: string, deviceId: string): void {
    const f = faults!.options;
    switch (kind) {
      case '500':
      case '503':
        return send(res, Number(kind), FAULT_TEXT[kind]!, TEXT_TYPE);
      case '429':
        return send(res, 429, THROTTLED_BODY, JSON_TYPE, { 'Retry-After': String(f.retryAfterSeconds) });
      case 'drop':
        stats.status('drop');
        req.socket.destroy();
        return;
      case 'truncate': {
        const full = Buffer.from(answerFor(params, userId, deviceId)[1]);
        return send(res, 200, full.subarray(0, full.length >> 1), JSON_TYPE);
      }
      case 'slow': {
        const timer = setTimeout(() => {
          slowTimers.delete(timer);
          if (!res.destroyed) serve(req, res, params, userId, deviceId);
        }, f.slowMs);
        slowTimers.add(timer);
      }
    }
  }

  const handle: RequestListener = (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === STATS_PATH && req.method === 'GET') return sendStats(res);
    const now = performance.now();
    stats.arrival(performance.timeOrigin + now);
    if (path !== API_PATH || req.method !== 'GET') return send(res, 404, '', TEXT_TYPE);
    // Throttled requests do not occupy the window: the limiter only records accepted ones.
    if (throttle && !throttle.tryAcquire(now)) {
      stats.throttled++;
      return send(res, 429, THROTTLED_BODY, JSON_TYPE);
    }
    const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const userId = params.get('user_id') ?? '';
    const deviceId = params.get('device_id') ?? '';
    const id = userId !== '' ? userId : deviceId;
    stats.requestedId(id);
    const fault = faults ? faults.decide(id) : null;
    if (fault) {
      stats.faults++;
      return injectFault(fault, req, res, params, userId, deviceId);
    }
    serve(req, res, params, userId, deviceId);
  };
  const handshakeMs = options.handshakeMs ?? 0;
  const shaken = new WeakSet<object>();
  const arrive: RequestListener =
    handshakeMs > 0
      ? (req, res) => {
          if (shaken.has(req.socket)) return handle(req, res);
          shaken.add(req.socket);
          const timer = setTimeout(() => {
            slowTimers.delete(timer);
            handle(req, res);
          }, handshakeMs);
          slowTimers.add(timer);
        }
      : handle;
  const server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, arrive) : createServer(arrive);

  function sendStats(res: ServerResponse): void {
    const body = JSON.stringify(stats.snapshot());
    res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `${options.tls ? 'https' : 'http'}://${urlHost(host)}:${port}`,
    port,
    stats: () => stats.snapshot(),
    asked: () => stats.distinctIds,
    setFaults(f) {
      faults = makeInjector(f);
    },
    setSecretKey(k) {
      secretKey = k;
    },
    resetStats: () => stats.reset(),
    close() {
      for (const t of slowTimers) clearTimeout(t);
      slowTimers.clear();
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/** Faults are on only with a rate above 0; a new configuration starts new attempt counts. */
function makeInjector(f: FaultOptions | null): FaultInjector | null {
  return f && f.rate > 0 ? new FaultInjector(f) : null;
}

/** The host to put in a URL: a wildcard address is reached on loopback; IPv6 gets brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
