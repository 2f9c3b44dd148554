import { providerError } from './errors.js';
import type { AuthStrategy, RawRequest, RawSend } from './auth.js';

/** A session an array handed out at login: the token to send, and the id its logout call needs. */
export interface ArraySession {
  token: string;
  /** the id the logout path names, when it is not the token itself */
  id?: string;
}

/**
 * Log in with a request whose answer BODY carries the session (token-in-body), send the token on
 * every request, log in again after a 401, and end the session with the array's own logout call —
 * the scheme of most arrays that are not Pure or PowerStore:
 * - HPE 3PAR / Primera: `POST /api/v1/credentials {user, password}` → `{key}`, header
 *   `X-HP3PAR-WSAPI-SessionKey`, logout `DELETE /credentials/{key}` (array-apis.md §4, hpe3parclient http.py);
 * - HPE Nimble / Alletra 6000: `POST /v1/tokens {data:{username, password, app_name}}` → `data.session_token`,
 *   header `X-Auth-Token` (array-apis.md §4, nimble-python-sdk restclient.py); logout `DELETE /v1/tokens/{id}` [UNCONFIRMED];
 * - Hitachi VSP (Configuration Manager): `POST /ConfigurationManager/v1/objects/sessions` with Basic →
 *   `{token, sessionId}`, header `Authorization: Session <token>`, logout `DELETE …/sessions/{sessionId}`
 *   [UNCONFIRMED: not in array-apis.md; from Hitachi's public REST API guide].
 * Credentials and tokens are reported as secrets, so logs and errors never show them.
 */
export function sessionAuth(args: {
  /** the login request (its body and headers hold the credentials) */
  login: Pick<RawRequest, 'method' | 'path' | 'query' | 'headers' | 'body'>;
  /** reads the session from the login answer's body; undefined when there is none */
  session: (body: unknown) => ArraySession | undefined;
  /** the headers that carry the token on each request, e.g. `(t) => ({ 'X-Auth-Token': t })` */
  send: (token: string) => Record<string, string>;
  /** the logout request for a session (best effort, on close) */
  logout?: (session: ArraySession) => Pick<RawRequest, 'method' | 'path'>;
  /** every credential value in `login` (they are secrets) */
  secrets: string[];
  provider?: string;
}): AuthStrategy {
  let session: ArraySession | undefined;
  let pending: Promise<ArraySession> | undefined;
  const login = async (send: RawSend, signal?: AbortSignal): Promise<ArraySession> => {
    const res = await send({ ...args.login, signal });
    const s = res.status < 300 ? args.session(res.data) : undefined;
    if (!s?.token) {
      throw providerError('auth', `login at ${args.login.path} failed: HTTP ${res.status}${res.status < 300 ? ', no session in the answer' : ''}`, {
        provider: args.provider,
        context: { status: res.status, path: args.login.path },
        retryable: res.status >= 500,
      });
    }
    return s;
  };
  return {
    kind: 'session',
    async headers(send, signal) {
      if (!session) {
        // one login for concurrent callers
        pending ??= login(send, signal).finally(() => {
          pending = undefined;
        });
        session = await pending;
      }
      return args.send(session.token);
    },
    invalidate() {
      session = undefined;
      return true;
    },
    async logout(send) {
      if (!session || !args.logout) return;
      const s = session;
      session = undefined;
      await send({ ...args.logout(s), headers: args.send(s.token) }).catch(() => undefined);
    },
    secrets: () => [...args.secrets, ...(session ? [session.token] : [])],
  };
}
