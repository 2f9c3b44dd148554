/**
 * Credentials written into a URL (`https://user:password@host/…`, also `user@host` forms with a
 * password) are secrets like any other: this replaces the password, and a token-only userinfo
 * (`https://TOKEN@host`), with `[REDACTED]` wherever such a URL appears inside a text. The scheme,
 * user name and host stay, so the message still says where.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*)(:[^\s/?#@]*)?@/gi;

export const URL_REDACTED = '[REDACTED]';

export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, (_all, scheme: string, user: string, password: string | undefined) =>
    password !== undefined ? `${scheme}${user}:${URL_REDACTED}@` : `${scheme}${URL_REDACTED}@`,
  );
}

/** The passwords (and token-only userinfos) of the URLs inside a text, decoded and raw, for exact-match redaction. */
export function urlCredentials(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(URL_USERINFO)) {
    const secret = m[3] !== undefined ? m[3].slice(1) : m[2];
    if (!secret) continue;
    out.push(secret);
    try {
      const decoded = decodeURIComponent(secret);
      if (decoded !== secret) out.push(decoded);
    } catch {
      // not percent-encoded
    }
  }
  return out;
}
