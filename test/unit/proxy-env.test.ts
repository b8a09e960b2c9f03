import { describe, expect, it } from 'vitest';
import { ignoredHttpProxy, proxyFor, type Env } from '../../src/net/proxy-env.js';
import { proxyCredentials, proxyScrubber, redactUrl } from '../../src/proxy-redact.js';

const route = (url: string, env: Env) => {
  const r = proxyFor(new URL(url), env);
  return r && { proxy: r.proxy.href, variable: r.variable, shown: r.shown };
};

describe('which proxy a URL goes through (curl rules)', () => {
  it('https URLs: lower-case https_proxy first, then HTTPS_PROXY', () => {
    expect(route('https://profile-api.amplitude.com/v1', { HTTPS_PROXY: 'http://up:3128' })?.proxy).toBe('http://up:3128/');
    expect(route('https://a.example', { HTTPS_PROXY: 'http://up:3128', https_proxy: 'http://low:3128' })?.variable).toBe('https_proxy');
  });

  it('http URLs: only lower-case http_proxy; upper-case HTTP_PROXY is ignored (httpoxy) and said so', () => {
    expect(route('http://minio.internal:9000', { http_proxy: 'http://p:3128' })?.proxy).toBe('http://p:3128/');
    expect(route('http://minio.internal:9000', { HTTP_PROXY: 'http://p:3128' })).toBeNull();
    expect(ignoredHttpProxy(new URL('http://minio.internal:9000'), { HTTP_PROXY: 'http://p:3128' })).toMatch(/HTTP_PROXY is ignored/);
    expect(ignoredHttpProxy(new URL('https://a.example'), { HTTP_PROXY: 'http://p:3128' })).toBeUndefined();
    // An https URL does not use http_proxy.
    expect(route('https://a.example', { http_proxy: 'http://p:3128', HTTP_PROXY: 'http://p:3128' })).toBeNull();
  });

  it('ALL_PROXY when no scheme-specific variable is set', () => {
    expect(route('https://a.example', { ALL_PROXY: 'http://all:3128' })?.variable).toBe('ALL_PROXY');
    expect(route('https://a.example', { ALL_PROXY: 'http://all:3128', HTTPS_PROXY: 'http://s:1' })?.variable).toBe('HTTPS_PROXY');
  });

  it('no scheme means http://; no port means 1080 (443 for an https proxy), as curl', () => {
    expect(route('https://a.example', { https_proxy: 'proxy.corp' })?.proxy).toBe('http://proxy.corp:1080/');
    expect(route('https://a.example', { https_proxy: 'https://proxy.corp' })?.proxy).toBe('https://proxy.corp/'); // 443 is https' default: URL leaves it out
  });

  it('an unusable proxy URL is a usage error that does not repeat the value (it may hold a password)', () => {
    expect(() => proxyFor(new URL('https://a.example'), { https_proxy: 'socks5://u:hunter22@p:1080' })).toThrow(/https_proxy: socks5 proxies are not supported/);
    try {
      proxyFor(new URL('https://a.example'), { https_proxy: 'http://u:hunter22@[bad' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/^https_proxy is not a proxy URL/);
      expect((err as Error).message).not.toContain('hunter22');
    }
  });
});

describe('NO_PROXY', () => {
  const p = { https_proxy: 'http://p:3128', http_proxy: 'http://p:3128' };
  const direct = (url: string, no: string, key = 'NO_PROXY') => proxyFor(new URL(url), { ...p, [key]: no }) === null;

  it('`*` bypasses every host', () => {
    expect(direct('https://profile-api.amplitude.com', '*')).toBe(true);
  });

  it('a name matches itself and its subdomains, with or without a leading dot or *.', () => {
    for (const entry of ['amplitude.com', '.amplitude.com', '*.amplitude.com', 'AMPLITUDE.COM']) {
      expect(direct('https://profile-api.amplitude.com', entry)).toBe(true);
    }
    expect(direct('https://amplitude.com', 'amplitude.com')).toBe(true);
    expect(direct('https://notamplitude.com', 'amplitude.com')).toBe(false);
    expect(direct('https://amplitude.com.evil.example', 'amplitude.com')).toBe(false);
  });

  it('a list with spaces, lower-case no_proxy first, ports and addresses', () => {
    expect(direct('https://b.internal', 'a.internal, b.internal')).toBe(true);
    expect(proxyFor(new URL('https://b.internal'), { ...p, NO_PROXY: 'b.internal', no_proxy: 'a.internal' })).not.toBeNull();
    expect(direct('http://minio.svc:9000', 'minio.svc:9000')).toBe(true);
    expect(direct('http://minio.svc:9001', 'minio.svc:9000')).toBe(false);
    expect(direct('http://10.1.2.3:9000', '10.0.0.0/8')).toBe(true);
    expect(direct('http://11.1.2.3:9000', '10.0.0.0/8')).toBe(false);
    expect(direct('http://[::1]:9000', '::1')).toBe(true);
    expect(direct('http://[0:0::1]:9000', '[::1]:9000')).toBe(true);
  });

  it('loopback is not bypassed unless listed (as curl and undici)', () => {
    expect(proxyFor(new URL('http://127.0.0.1:9000'), p)).not.toBeNull();
    expect(proxyFor(new URL('https://localhost:8443'), p)).not.toBeNull();
    expect(direct('http://127.0.0.1:9000', '127.0.0.1')).toBe(true);
    expect(direct('https://localhost:8443', 'localhost')).toBe(true);
  });
});

describe('proxy credentials are never shown', () => {
  it('redactUrl keeps scheme, host and port only', () => {
    expect(redactUrl(new URL('http://user:pa%40ss@proxy.corp:3128'))).toBe('http://[REDACTED]@proxy.corp:3128');
    expect(redactUrl(new URL('http://proxy.corp:3128'))).toBe('http://proxy.corp:3128');
    expect(route('https://a.example', { HTTPS_PROXY: 'http://user:secret-pw@p:3128' })?.shown).toBe('http://[REDACTED]@p:3128');
  });

  it('the scrubber removes the pair, the password raw and decoded, and the Basic header value', () => {
    const env = { HTTPS_PROXY: 'http://svc-export:p%40ss-w0rd@proxy.corp:3128' };
    const scrub = proxyScrubber(env);
    const basic = Buffer.from('svc-export:p@ss-w0rd').toString('base64');
    const line = `x svc-export:p%40ss-w0rd y p@ss-w0rd z p%40ss-w0rd w Basic ${basic}`;
    const out = scrub(line);
    for (const s of ['p@ss-w0rd', 'p%40ss-w0rd', basic]) expect(out).not.toContain(s);
    expect(proxyCredentials({})).toEqual([]);
    expect(proxyScrubber({})('unchanged')).toBe('unchanged');
  });
});
