import { Pool, ProxyAgent, type Dispatcher } from './undici.js';
import type { ProxyRoute } from './proxy-env.js';

export interface PoolOptions {
  /** Keep-alive connections at most. */
  connections: number;
  keepAliveTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
}

/**
 * A keep-alive pool to `origin`, direct or through the proxy. Through a proxy, each pooled
 * connection is one CONNECT tunnel kept open for many requests (undici ProxyAgent hands the
 * pool options to the per-origin pool it keeps): at most `connections` tunnels, not one per
 * request. Server certificates are checked against Node's CAs, NODE_EXTRA_CA_CERTS included.
 */
export function dispatcherFor(origin: URL, opts: PoolOptions, route: ProxyRoute | null): Dispatcher {
  if (!route) return new Pool(origin.origin, opts);
  return new ProxyAgent({
    uri: route.proxy.href,
    ...opts,
    // The CONNECT itself waits no longer than a request would (undici's default is 5 minutes):
    // a proxy that accepts connections but never answers is a retry after --timeout, not a stall.
    clientFactory: (origin, o) => new Pool(origin, { ...o, headersTimeout: opts.headersTimeout }),
  });
}
