/**
 * A URL as messages may show it: whatever is between `//` and `@` (user, password, a token)
 * replaced by `***`. Works on strings that are not valid URLs too, since it is also used to
 * say why one was refused.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

/**
 * The user and password of `url` (raw and percent-decoded) removed from `text`; a token can be
 * either. Under 4 characters they are left (`ops` would mangle every "stops"), as the secret
 * key's scrubber does.
 */
export function scrubUrlCredentials(url: URL, text: string): string {
  const secrets = [url.username, url.password].flatMap((s) => [s, safeDecode(s)]).filter((s) => s.length >= 4);
  let out = text;
  for (const s of secrets.sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
