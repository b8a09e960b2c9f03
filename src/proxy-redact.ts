/**
 * Proxy credentials (`http://user:password@proxy:3128`) are sent in the Proxy-Authorization
 * header and nowhere else: messages show the proxy as `http://[REDACTED]@proxy:3128`, and the
 * logger and the final error line scrub every form of them as a safety net.
 */

const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'];

/** A proxy URL fit for a message: scheme, host and port, with any credentials replaced. */
export function redactUrl(url: URL): string {
  const shown = `${url.protocol}//${url.username || url.password ? '[REDACTED]@' : ''}${url.host}`;
  return shown;
}

/**
 * Every form in which the credentials of the proxy variables could be written: the user:password
 * pair and the password, raw and percent-decoded, and the Basic header value.
 */
export function proxyCredentials(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const found = new Set<string>();
  for (const name of PROXY_VARIABLES) {
    const value = env[name]?.trim();
    if (!value) continue;
    // Read by hand, not with URL: a value URL cannot parse can still hold a password.
    const auth = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^@/?#]*)@/i.exec(value)?.[1];
    if (!auth) continue;
    const colon = auth.indexOf(':');
    const user = colon === -1 ? auth : auth.slice(0, colon);
    const password = colon === -1 ? '' : auth.slice(colon + 1);
    const decoded = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    };
    for (const form of [auth, `${decoded(user)}:${decoded(password)}`, password, decoded(password)]) {
      // A one-letter password would blank out half the log; such a password protects nothing either.
      if (form.length >= 3 && form !== ':') found.add(form);
    }
    found.add(Buffer.from(`${decoded(user)}:${decoded(password)}`).toString('base64'));
  }
  // Longest first: the pair is replaced whole before its password part is looked for.
  return [...found].sort((a, b) => b.length - a.length);
}

/** Replaces the proxy credentials named by the environment in `text`. */
export function proxyScrubber(env: Readonly<Record<string, string | undefined>> = process.env): (text: string) => string {
  const secrets = proxyCredentials(env);
  if (secrets.length === 0) return (t) => t;
  return (text) => secrets.reduce((t, s) => (t.includes(s) ? t.split(s).join('[REDACTED]') : t), text);
}
