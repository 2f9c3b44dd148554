import { afterEach, describe, expect, it } from 'vitest';
import nock from 'nock';
import { silentLogger } from '../../src/core/logger.js';
import { HttpClient } from '../../providers/sdk/http-client.js';
import { sessionAuth } from '../../providers/sdk/session-auth.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';

/**
 * Token-in-body sessions with the array's own logout, as the next arrays need them. The answers are
 * the documented shapes: Nimble `POST /v1/tokens` → `{data:{session_token, id}}`, logout
 * `DELETE /v1/tokens/{id}` (hpe-storage/nimble-python-sdk nimbleclient/v1/restclient.py); 3PAR
 * `POST /api/v1/credentials` → `{key}`, logout `DELETE /api/v1/credentials/{key}` (hpe3parclient client.py).
 */
afterEach(() => nock.cleanAll());

describe('sessionAuth (token in the login answer body, logout by session)', () => {
  it('Nimble: logs in once, sends X-Auth-Token, logs in again after a 401, and deletes its token on close', async () => {
    const origin = 'https://nimble.test';
    let logins = 0;
    const seen: string[] = [];
    nock(origin)
      .persist()
      .post('/v1/tokens', { data: { username: 'hvsnap', password: 'nimble-pass-77' } })
      .reply(() => {
        logins++;
        return [201, { data: { session_token: `tok${logins}`, id: `id${logins}` } }];
      })
      .get('/v1/volumes')
      .reply(function () {
        const t = String(this.req.headers['x-auth-token']);
        seen.push(t);
        return t === 'tok1' && seen.length === 2 ? [401, {}] : [200, { data: [] }];
      })
      .delete(/\/v1\/tokens\/.*/)
      .reply(function (uri) {
        seen.push(`logout ${uri} ${String(this.req.headers['x-auth-token'])}`);
        return [200, {}];
      });
    const http = new HttpClient({
      provider: 'nimble',
      baseUrl: origin,
      logger: silentLogger,
      auth: sessionAuth({
        login: { method: 'POST', path: '/v1/tokens', body: { data: { username: 'hvsnap', password: 'nimble-pass-77' } } },
        session: (b) => {
          const d = (b as { data?: { session_token?: string; id?: string } })?.data;
          return d?.session_token ? { token: d.session_token, id: d.id } : undefined;
        },
        send: (t) => ({ 'X-Auth-Token': t }),
        logout: (s) => ({ method: 'DELETE', path: `/v1/tokens/${s.id}` }),
        secrets: ['nimble-pass-77'],
        provider: 'nimble',
      }),
    });
    await Promise.all([http.request({ method: 'GET', path: '/v1/volumes' }), http.request({ method: 'GET', path: '/v1/volumes' })]);
    expect(logins).toBe(2); // one login for both callers, and one after the 401
    expect(http.secrets()).toContain('nimble-pass-77');
    await http.close();
    expect(seen.at(-1)).toBe('logout /v1/tokens/id2 tok2');
  });

  it('3PAR: a login answer without a key is an auth error naming the path, never the password', async () => {
    const origin = 'https://3par.test';
    nock(origin).post('/api/v1/credentials').reply(201, {});
    const http = new HttpClient({
      provider: '3par',
      baseUrl: origin,
      logger: silentLogger,
      auth: sessionAuth({
        login: { method: 'POST', path: '/api/v1/credentials', body: { user: 'hvsnap', password: '3par-pass-55' } },
        session: (b) => ((b as { key?: string })?.key ? { token: (b as { key: string }).key } : undefined),
        send: (t) => ({ 'X-HP3PAR-WSAPI-SessionKey': t }),
        logout: (s) => ({ method: 'DELETE', path: `/api/v1/credentials/${s.token}` }),
        secrets: ['3par-pass-55'],
        provider: '3par',
      }),
    });
    const e = await http.request({ method: 'GET', path: '/api/v1/volumes' }).catch((x) => x);
    expect(providerErrorKind(e)).toBe('auth');
    expect(e.message).toBe('login at /api/v1/credentials failed: HTTP 201, no session in the answer');
    expect(JSON.stringify(e)).not.toContain('3par-pass-55');
  });
});
