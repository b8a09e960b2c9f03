import type { Dispatcher } from 'undici';
import { ExitError, usageError } from '../errors.js';
import { dispatcherFor } from '../net/dispatcher.js';
import type { ProxyRoute } from '../net/proxy-env.js';
import { tunnelRefused } from '../net/proxy-errors.js';
import { errorText, isThrottleBody, normalizeBody } from './normalize.js';
import { makePathBuilder } from './request.js';
import type { NormalizedAnswer, ProfileQuery, UserRef } from './types.js';

/** One HTTP attempt, classified. Only `fatal` stops the job; the rest are per user. */
export type Attempt =
  | { kind: 'answer'; answer: NormalizedAnswer; status: number }
  | { kind: 'retry'; reason: string; status: number | null; retryAfterMs?: number; throttled: boolean }
  | { kind: 'fail'; reason: string; status: number }
  | { kind: 'fatal'; error: ExitError };

export interface ClientOptions {
  apiUrl: URL;
  secretKey: string;
  query: ProfileQuery;
  /** Keep-alive connections at most (one per request in flight). */
  connections: number;
  timeoutMs: number;
  /** The egress proxy to tunnel through (checked by net/preflight.ts); null or absent: direct. */
  proxy?: ProxyRoute | null;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/**
 * `GET /v1/userprofile` over keep-alive connections (an undici Pool, or one inside a ProxyAgent
 * when a proxy applies), with a per-request timeout.
 * The key goes in the Authorization header only, and never over plain http to anything but
 * loopback (the emulator).
 */
export class ProfileClient {
  private readonly pool: Dispatcher;
  private readonly origin: string;
  private readonly path: (u: UserRef) => string;
  private readonly headers: Record<string, string>;
  private readonly prefix: string;
  private answered = false;

  constructor(private readonly opts: ClientOptions) {
    const url = opts.apiUrl;
    if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
      throw usageError(`--api-url ${url.origin} is plain http: the secret key is only sent over https (or to a loopback emulator)`);
    }
    this.origin = url.origin;
    this.pool = dispatcherFor(url, { connections: opts.connections, keepAliveTimeout: 30_000, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs }, opts.proxy ?? null);
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.path = makePathBuilder(opts.query);
    this.headers = { authorization: `Api-Key ${opts.secretKey}`, accept: 'application/json', 'user-agent': 'amp-profile-export' };
  }

  async attempt(user: UserRef, signal?: AbortSignal): Promise<Attempt> {
    let status: number;
    let body: string;
    let retryAfter: string | undefined;
    let location: string | undefined;
    try {
      const res = await this.pool.request({
        origin: this.origin,
        method: 'GET',
        path: this.prefix + this.path(user),
        headers: this.headers,
        // The timeout is the pool's headersTimeout/bodyTimeout: a per-request
        // AbortSignal.any(AbortSignal.timeout()) cost ~10% of CPU and most of the heap churn
        // at 1,000,000 users (bench profile).
        signal,
      });
      status = res.statusCode;
      retryAfter = header(res.headers['retry-after']);
      location = header(res.headers.location);
      body = await res.body.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      // The proxy took the credentials at the start and refuses them now (rotated password): no
      // user gets through it any more, so stop rather than fail every user.
      const proxyStatus = tunnelStatus(err);
      if ((proxyStatus === 407 || proxyStatus === 401) && this.opts.proxy) {
        return { kind: 'fatal', error: tunnelRefused(this.opts.proxy, this.opts.apiUrl.host, proxyStatus) };
      }
      // An untrusted certificate is the same for every user and every retry: a TLS-inspecting
      // proxy or a private CA that Node does not know. Say so once instead of failing everyone.
      const cert = certificateError(err);
      if (cert) {
        return {
          kind: 'fatal',
          error: new ExitError('api_url', `the certificate of ${this.origin} is not trusted (${cert}): if a company proxy or a private CA signs it, point NODE_EXTRA_CA_CERTS at that CA's PEM file`),
        };
      }
      return { kind: 'retry', reason: networkReason(err), status: null, throttled: false };
    }
    const a = this.classify(status, body, retryAfter, location);
    if (a.kind === 'answer') this.answered = true;
    return a;
  }

  private classify(status: number, body: string, retryAfter: string | undefined, location: string | undefined): Attempt {
    if (status === 401) {
      const reason = body.trim().slice(0, 200) || 'unauthorized';
      return { kind: 'fatal', error: new ExitError('auth', `the API refused the secret key (401 ${reason}); nothing after this was exported`) };
    }
    if (status >= 300 && status < 400) {
      return {
        kind: 'fatal',
        error: usageError(`the API answered ${status} redirecting to ${location ?? '?'}: use https in --api-url (plain http is redirected)`),
      };
    }
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      if (status === 200) return { kind: 'retry', reason: 'truncated or non-JSON answer', status, throttled: false };
    }
    if (status === 429 || isThrottleBody(json)) {
      const r: Attempt = { kind: 'retry', reason: 'throttled (429)', status, throttled: true };
      const ms = retryAfterMs(retryAfter);
      if (ms !== undefined) r.retryAfterMs = ms;
      return r;
    }
    if (status >= 500) return { kind: 'retry', reason: `server error ${status}`, status, throttled: false };
    const answer = json === undefined ? null : normalizeBody(json, this.opts.query);
    if (answer) return { kind: 'answer', answer, status };
    if (status === 404 && !body.trim() && !this.answered) {
      return { kind: 'fatal', error: usageError(`the API answered an empty 404 for ${this.opts.apiUrl.origin}${this.prefix}/v1/userprofile: check --api-url`) };
    }
    if (status === 200) return { kind: 'retry', reason: 'answer without userData', status, throttled: false };
    const text = errorText(json) ?? body.trim().slice(0, 200);
    return { kind: 'fail', reason: `${status} ${text}`.trim(), status };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** `Retry-After` in seconds or as an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const CERT_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The TLS verification code of a connection error, if that is what it is. */
function certificateError(err: unknown): string | undefined {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code && CERT_ERRORS.has(e.code)) return e.code;
  }
  return undefined;
}

/** The status undici's ProxyAgent reports when the proxy refuses a tunnel ("Proxy response (407) !== 200"). */
function tunnelStatus(err: unknown): number | undefined {
  const m = /^Proxy response \((\d{3})\)/.exec((err as { message?: string })?.message ?? '');
  return m ? Number(m[1]) : undefined;
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  const proxy = tunnelStatus(err);
  if (proxy !== undefined) return `proxy answered ${proxy} to CONNECT`;
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return `connection error ${e.code ?? e.name ?? ''}`.trim();
}
