import { providerError } from './errors.js';

/** One HTTP exchange without auth, retry or error mapping: what an auth strategy logs in with. */
export interface RawRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** path below the client's base URL, e.g. `/login` */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  /** lower-case header names; `set-cookie` joined by `\n` */
  headers: Record<string, string>;
  data: unknown;
}

export type RawSend = (req: RawRequest) => Promise<RawResponse>;

/**
 * How a client authenticates. The HTTP client asks for headers before every request, and on a 401
 * calls {@link AuthStrategy.invalidate}; when that returns true it asks again (logging in anew) and
 * repeats the request once.
 */
export interface AuthStrategy {
  /** `basic`, `token-login`, `session-cookie` (for logs) */
  readonly kind: string;
  /** Headers for the next request; logs in first when there is no live session. */
  headers(send: RawSend, signal?: AbortSignal): Promise<Record<string, string>>;
  /** Forgets the session after a 401. True when logging in again may help. */
  invalidate(): boolean;
  /** Ends the session (best effort). */
  logout?(send: RawSend): Promise<void>;
  /** Every secret value it holds now (credentials and session tokens), for redaction. */
  secrets(): string[];
}

/** HTTP Basic on every request (ONTAP, PowerStore simple mode). A 401 is final: the password is wrong. */
export function basicAuth(args: { username: string; password: string }): AuthStrategy {
  const header = 'Basic ' + Buffer.from(`${args.username}:${args.password}`).toString('base64');
  return {
    kind: 'basic',
    headers: async () => ({ authorization: header }),
    invalidate: () => false,
    secrets: () => [args.password, header, header.slice(6)],
  };
}

/**
 * Log in with credential headers, read a session token from a response header, send it on every
 * request; log in again after a 401 (Pure: `POST /login` with `api-token`, token in `x-auth-token`).
 */
export function tokenLoginAuth(args: {
  loginPath: string;
  loginMethod?: 'GET' | 'POST';
  /** headers that carry the credential, e.g. `{ 'api-token': token }` (all values are secrets) */
  credentialHeaders: Record<string, string>;
  /** response header holding the session token, e.g. `x-auth-token` */
  tokenHeader: string;
  /** request header to send the token in (default: tokenHeader) */
  sendAs?: string;
  logoutPath?: string;
  provider?: string;
}): AuthStrategy {
  let token: string | undefined;
  let pending: Promise<string> | undefined;
  const sendAs = args.sendAs ?? args.tokenHeader;
  const login = async (send: RawSend, signal?: AbortSignal): Promise<string> => {
    const res = await send({ method: args.loginMethod ?? 'POST', path: args.loginPath, headers: args.credentialHeaders, signal });
    const value = res.headers[args.tokenHeader.toLowerCase()];
    if (res.status >= 300 || !value) {
      throw providerError('auth', `login at ${args.loginPath} failed: HTTP ${res.status}${value ? '' : `, no ${args.tokenHeader} header`}`, {
        provider: args.provider,
        context: { status: res.status, path: args.loginPath },
        retryable: res.status >= 500,
      });
    }
    return value;
  };
  return {
    kind: 'token-login',
    async headers(send, signal) {
      if (!token) {
        // one login for concurrent callers
        pending ??= login(send, signal).finally(() => {
          pending = undefined;
        });
        token = await pending;
      }
      return { [sendAs]: token };
    },
    invalidate() {
      token = undefined;
      return true;
    },
    async logout(send) {
      if (!token || !args.logoutPath) return;
      const t = token;
      token = undefined;
      await send({ method: 'POST', path: args.logoutPath, headers: { [sendAs]: t } }).catch(() => undefined);
    },
    secrets: () => [...Object.values(args.credentialHeaders), ...(token ? [token] : [])],
  };
}

/**
 * Log in with Basic, read a session token header and a cookie, send both on every request; log in
 * again after a 401 or when the idle timeout has passed (PowerStore: `GET /login_session`,
 * `DELL-EMC-TOKEN`, cookie `auth_cookie`).
 */
export function sessionCookieAuth(args: {
  loginPath: string;
  loginQuery?: Record<string, string>;
  username: string;
  password: string;
  tokenHeader: string;
  cookieName: string;
  /** seconds of idleness after which the array drops the session, read from the login body */
  idleTimeoutSeconds?: (body: unknown) => number | undefined;
  logoutPath?: string;
  provider?: string;
  /** ms clock, for tests */
  now?: () => number;
}): AuthStrategy {
  const basic = 'Basic ' + Buffer.from(`${args.username}:${args.password}`).toString('base64');
  const now = args.now ?? Date.now;
  let session: { token: string; cookie: string; idleMs?: number; lastUsed: number } | undefined;
  let pending: Promise<typeof session> | undefined;
  const login = async (send: RawSend, signal?: AbortSignal) => {
    const res = await send({ method: 'GET', path: args.loginPath, query: args.loginQuery, headers: { authorization: basic }, signal });
    const token = res.headers[args.tokenHeader.toLowerCase()];
    const cookie = (res.headers['set-cookie'] ?? '')
      .split('\n')
      .map((c) => c.split(';')[0]!.trim())
      .find((c) => c.startsWith(`${args.cookieName}=`));
    if (res.status >= 300 || !token || !cookie) {
      throw providerError(
        'auth',
        `login at ${args.loginPath} failed: HTTP ${res.status}${token && cookie ? '' : `, no ${args.tokenHeader} header or ${args.cookieName} cookie`}`,
        {
          provider: args.provider,
          context: { status: res.status, path: args.loginPath },
          retryable: res.status >= 500,
        },
      );
    }
    const idle = args.idleTimeoutSeconds?.(res.data);
    return { token, cookie, idleMs: idle ? idle * 1000 : undefined, lastUsed: now() };
  };
  return {
    kind: 'session-cookie',
    async headers(send, signal) {
      // re-login a little before the array would drop an idle session
      if (session?.idleMs && now() - session.lastUsed > session.idleMs * 0.9) session = undefined;
      if (!session) {
        pending ??= login(send, signal).finally(() => {
          pending = undefined;
        });
        session = await pending;
      }
      session!.lastUsed = now();
      return { [args.tokenHeader]: session!.token, cookie: session!.cookie };
    },
    invalidate() {
      session = undefined;
      return true;
    },
    async logout(send) {
      if (!session || !args.logoutPath) return;
      const s = session;
      session = undefined;
      await send({ method: 'POST', path: args.logoutPath, headers: { [args.tokenHeader]: s.token, cookie: s.cookie } }).catch(() => undefined);
    },
    secrets: () => [
      args.password,
      basic,
      basic.slice(6),
      ...(session ? [session.token, session.cookie, session.cookie.slice(args.cookieName.length + 1)] : []),
    ],
  };
}
