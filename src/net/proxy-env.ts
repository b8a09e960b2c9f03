import { BlockList, isIP } from 'node:net';
import { usageError } from '../errors.js';
import { redactUrl } from '../proxy-redact.js';

/**
 * Which proxy a URL goes through, read from the environment the way curl reads it (README,
 * "Operating it: behind an egress proxy"):
 * - https:// URLs: `https_proxy`, else `HTTPS_PROXY`;
 * - http:// URLs: `http_proxy` only. Upper-case `HTTP_PROXY` is ignored, as curl ignores it: a
 *   CGI server sets it from a request's `Proxy:` header ("httpoxy");
 * - then `all_proxy`, else `ALL_PROXY`;
 * - `no_proxy`, else `NO_PROXY`: a comma-separated list of `*` (every host), host names matched
 *   with their subdomains (`example.com` and `.example.com` both match `api.example.com`),
 *   IP addresses and CIDR ranges (`10.0.0.0/8`), optionally with `:port`. Loopback is not
 *   bypassed unless listed, as curl and undici do.
 * A proxy URL without a scheme is http://; without a port, 1080 (http) or 443 (https), as curl.
 */
export interface ProxyRoute {
  /** The proxy to tunnel through, with its credentials (for the Proxy-Authorization header only). */
  proxy: URL;
  /** The variable it came from, for messages. */
  variable: string;
  /** The proxy URL without credentials: the only form that may be logged or shown. */
  shown: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The route to `target`: a proxy, or null for a direct connection. Throws a usage error for an unusable proxy URL. */
export function proxyFor(target: URL, env: Env = process.env): ProxyRoute | null {
  const found = proxyVariable(target.protocol, env);
  if (!found) return null;
  if (bypassed(target, noProxyList(env))) return null;
  const proxy = parseProxyUrl(found.value, found.variable);
  return { proxy, variable: found.variable, shown: redactUrl(proxy) };
}

/** True when some URL could go through a proxy (HTTP_PROXY alone names none). */
export function proxyConfigured(env: Env = process.env): boolean {
  return ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'all_proxy', 'ALL_PROXY'].some((v) => nonEmpty(env[v]));
}

/** Set when upper-case HTTP_PROXY would have applied to `target` but is ignored (a warning for the log). */
export function ignoredHttpProxy(target: URL, env: Env = process.env): string | undefined {
  if (target.protocol !== 'http:' || !nonEmpty(env['HTTP_PROXY']) || proxyVariable('http:', env)) return undefined;
  if (bypassed(target, noProxyList(env))) return undefined;
  return `HTTP_PROXY is ignored for ${target.origin} (as curl ignores it: only lower-case http_proxy names a proxy for http:// URLs)`;
}

function proxyVariable(protocol: string, env: Env): { variable: string; value: string } | undefined {
  const names = protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : protocol === 'http:' ? ['http_proxy'] : [];
  for (const variable of [...names, 'all_proxy', 'ALL_PROXY']) {
    const value = env[variable];
    if (nonEmpty(value)) return { variable, value: value.trim() };
  }
  return undefined;
}

const nonEmpty = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';

export function parseProxyUrl(value: string, variable: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    // The value itself may hold a password: only its variable is named.
    throw usageError(`${variable} is not a proxy URL (expected http://[user:password@]host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${variable}: ${url.protocol.slice(0, -1)} proxies are not supported (expected an http:// or https:// proxy)`);
  }
  if (url.hostname === '') throw usageError(`${variable} has no host (expected http://[user:password@]host:port)`);
  if (url.port === '') url.port = url.protocol === 'https:' ? '443' : '1080';
  return url;
}

interface NoProxyEntry {
  /** Lower-case name without a leading `.`/`*.`; unused for addresses. */
  host: string;
  port?: number;
  /** An IP address or CIDR range (net.BlockList compares IPv6 forms like `::1` and `0:0::1` as equal). */
  ips?: BlockList;
}

function noProxyList(env: Env): NoProxyEntry[] | '*' {
  const raw = nonEmpty(env['no_proxy']) ? env['no_proxy'] : (env['NO_PROXY'] ?? '');
  const entries: NoProxyEntry[] = [];
  for (const token of raw.split(/[\s,]+/)) {
    if (token === '') continue;
    if (token === '*') return '*';
    const entry = parseNoProxyEntry(token.toLowerCase());
    if (entry) entries.push(entry);
  }
  return entries;
}

function parseNoProxyEntry(token: string): NoProxyEntry | undefined {
  let host = token;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2]) port = Number(bracket[2]);
  } else if ((host.match(/:/g) ?? []).length === 1) {
    const [h, p] = host.split(':') as [string, string];
    host = h;
    if (/^\d+$/.test(p)) port = Number(p);
  }
  const withPort = (e: NoProxyEntry): NoProxyEntry => (port ? { ...e, port } : e);
  const [addr, bits] = host.split('/') as [string, string | undefined];
  const version = isIP(addr);
  if (version !== 0) {
    const ips = new BlockList();
    const type = version === 6 ? 'ipv6' : 'ipv4';
    const prefix = bits === undefined ? NaN : Number(bits);
    if (bits === undefined) ips.addAddress(addr, type);
    else if (Number.isInteger(prefix) && prefix >= 0 && prefix <= (version === 6 ? 128 : 32)) ips.addSubnet(addr, prefix, type);
    else return undefined;
    return withPort({ host: addr, ips });
  }
  host = host.replace(/^\*?\./, '').replace(/\.$/, '');
  return host === '' || host.includes('/') ? undefined : withPort({ host });
}

/** True when `target` is listed in NO_PROXY. */
function bypassed(target: URL, list: NoProxyEntry[] | '*'): boolean {
  if (list === '*') return true;
  const host = target.hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const version = isIP(host);
  return list.some((e) => {
    if (e.port !== undefined && e.port !== port) return false;
    if (e.ips) return version !== 0 && e.ips.check(host, version === 6 ? 'ipv6' : 'ipv4');
    return version === 0 && (host === e.host || host.endsWith(`.${e.host}`));
  });
}
