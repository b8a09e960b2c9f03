import { ExitError } from '../errors.js';
import type { ProxyRoute } from './proxy-env.js';

/**
 * A proxy that cannot be reached or refuses a tunnel: one line naming the proxy (without its
 * credentials), the variable it came from and what to change. Exit 2 (the configuration is
 * wrong), except a 5xx: the proxy is there but could not reach the server, which is an outage
 * (exit 5, rerun later).
 */
export class ProxyError extends ExitError {
  constructor(
    code: 'proxy' | 'unavailable',
    message: string,
    /** The proxy's answer to CONNECT, when it answered. */
    readonly status?: number,
    /** The network error underneath: the AWS SDK retries on it (it follows `cause`), as on a direct connection. */
    cause?: unknown,
  ) {
    super(code, message);
    this.name = 'ProxyError';
    if (cause !== undefined) this.cause = cause;
    // A 5xx from the proxy is an outage on its far side: the AWS SDK retries it like a 5xx from S3.
    if (code === 'unavailable') Object.assign(this, { $retryable: {} });
  }
}

const where = (r: ProxyRoute) => `the proxy ${r.shown} (from ${r.variable})`;

/** The proxy answered CONNECT with something other than 200. */
export function tunnelRefused(route: ProxyRoute, target: string, status: number, statusText = ''): ProxyError {
  const answer = `${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 407 || status === 401) {
    return new ProxyError('proxy', `${where(route)} answered ${answer} to a tunnel to ${target}: check the user and password in ${route.variable}`, status);
  }
  if (status >= 500) {
    return new ProxyError('unavailable', `${where(route)} could not open a tunnel to ${target} (${answer}); rerun the same command when it can`, status);
  }
  return new ProxyError('proxy', `${where(route)} refused a tunnel to ${target} (${answer}): ask for it to be allowed, or list the host in NO_PROXY if it is reached directly`, status);
}

/** The proxy itself could not be reached (refused, unknown host, timeout). */
export function proxyUnreachable(route: ProxyRoute, err: unknown): ProxyError {
  const e = err as { code?: unknown; name?: string };
  // A DOMException (the preflight's timeout) has a numeric legacy `code`: not a reason.
  const why = typeof e.code === 'string' ? e.code : e.name === 'TimeoutError' || e.name === 'AbortError' ? 'no answer' : (e.name ?? 'error');
  return new ProxyError('proxy', `cannot connect to ${where(route)}: ${why}; check ${route.variable}`, undefined, err);
}
