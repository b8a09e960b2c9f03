import { Client } from './undici.js';
import type { Logger } from '../log.js';
import { ignoredHttpProxy, proxyFor, type Env, type ProxyRoute } from './proxy-env.js';
import { proxyUnreachable, tunnelRefused } from './proxy-errors.js';

/** How long the proxy has to answer the preflight CONNECT. */
export const PREFLIGHT_TIMEOUT_MS = 10_000;

/** `host:port` of a URL, as CONNECT names it. */
export function tunnelTarget(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
}

/** The Proxy-Authorization header for a proxy URL's credentials, if it has any. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
}

/**
 * The route to `target`, logged, and checked with one CONNECT before any user is read: a proxy
 * that is down or refuses the credentials ends the run with one line and exit 2 while nothing
 * has been requested or written (README, "Operating it: behind an egress proxy"). The checked
 * tunnel is closed; the client opens its own.
 */
export async function checkedRoute(target: URL, what: string, log: Logger, env: Env = process.env, timeoutMs = PREFLIGHT_TIMEOUT_MS): Promise<ProxyRoute | null> {
  const ignored = ignoredHttpProxy(target, env);
  if (ignored) log.warn(ignored);
  const route = proxyFor(target, env);
  if (!route) {
    log.debug({ target: target.origin }, `${what}: direct connection (no proxy applies)`);
    return null;
  }
  const host = tunnelTarget(target);
  log.info({ proxy: route.shown, from: route.variable, target: host }, `${what} through the proxy`);
  await preflight(route, host, timeoutMs);
  log.debug({ proxy: route.shown, target: host }, 'proxy tunnel checked');
  return route;
}

async function preflight(route: ProxyRoute, host: string, timeoutMs: number): Promise<void> {
  const client = new Client(route.proxy.origin, { connectTimeout: timeoutMs });
  const auth = proxyAuthorization(route.proxy);
  try {
    const { statusCode, socket } = await client
      .connect({
        path: host,
        headers: { host, ...(auth ? { 'proxy-authorization': auth } : {}) },
        signal: AbortSignal.timeout(timeoutMs),
      })
      .catch((err: unknown) => {
        throw proxyUnreachable(route, err);
      });
    socket.on('error', () => undefined).destroy();
    if (statusCode !== 200) throw tunnelRefused(route, host, statusCode);
  } finally {
    await client.destroy().catch(() => undefined);
  }
}
