import { afterEach, describe, expect, it } from 'vitest';
import { captureLogger, silentLogger } from '../../src/core/logger.js';
import { isHvsnapError } from '../../src/core/errors.js';
import { HttpClient, type HttpClientOptions } from '../../providers/sdk/http-client.js';
import { tokenLoginAuth } from '../../providers/sdk/auth.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import { retryAfterMs } from '../../providers/sdk/retry-delay.js';
import { pollJob } from '../../providers/sdk/poll-job.js';
import { FakeHttp } from './fake-http.js';
import { failure } from '../helpers/failure.js';

const origin = 'https://http-client.test';
let fake: FakeHttp | undefined;
afterEach(() => fake?.close());

function setup(opts: Partial<HttpClientOptions> = {}) {
  const waits: number[] = [];
  fake = new FakeHttp(origin, (req) =>
    req.path === '/missing'
      ? { status: 404, body: { error: 'nope' } }
      : req.path === '/bad'
        ? { status: 400, body: {} }
        : { status: 200, body: { ok: true, path: req.path } },
  );
  const client = new HttpClient({
    provider: 'test',
    baseUrl: origin,
    logger: silentLogger,
    retry: { retries: 3, minDelayMs: 1, maxDelayMs: 2 },
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...opts,
  });
  return { client, fake, waits };
}

describe('HttpClient retry policy', () => {
  it('repeats a GET after 503s and keeps one request id across attempts', async () => {
    const { client, fake } = setup();
    fake.inject({ method: 'GET', path: /^\/x$/, times: 2, reply: { status: 503, body: {} } });
    const res = await client.request<{ ok: boolean }>({ method: 'GET', path: '/x' });
    expect(res.data.ok).toBe(true);
    const ids = fake.requests.map((r) => r.headers['x-request-id']);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1);
    await client.request({ method: 'GET', path: '/x' });
    expect(fake.requests[3]!.headers['x-request-id']).not.toBe(ids[0]);
  });

  it('does not repeat a POST after a 503 unless it is marked idempotent', async () => {
    const { client, fake } = setup();
    fake.inject({ method: 'POST', path: /^\/x$/, times: 5, reply: { status: 503, body: {} } });
    const e = await failure(client.request({ method: 'POST', path: '/x', body: { a: 1 } }));
    expect(providerErrorKind(e)).toBe('transient');
    expect(fake.requests).toHaveLength(1);
    await client.request({ method: 'POST', path: '/x', body: { a: 1 }, idempotent: true }).catch(() => undefined);
    expect(fake.requests.length).toBeGreaterThan(2);
  });

  it('honours Retry-After and X-RateLimit headers on 429, for any method', async () => {
    const { client, fake, waits } = setup({ retry: { retries: 3, minDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 30_000 } });
    fake.inject({ method: 'POST', path: /^\/x$/, reply: { status: 429, body: {}, headers: { 'retry-after': '2' } } });
    fake.inject({
      method: 'POST',
      path: /^\/x$/,
      reply: { status: 429, body: {}, headers: { 'x-ratelimit-limit-minute': '100', 'x-ratelimit-remaining-minute': '0' } },
    });
    fake.inject({ method: 'POST', path: /^\/x$/, reply: { status: 429, body: {}, headers: { 'x-ratelimit-remaining-second': '0' } } });
    await client.request({ method: 'POST', path: '/x' });
    expect(waits).toEqual([2000, 30_000, 1000]);
    expect(fake.requests).toHaveLength(4);
  });

  it('does not repeat 400 or 404, and maps them to invalid and not_found', async () => {
    const { client, fake } = setup();
    expect(providerErrorKind(await failure(client.request({ method: 'GET', path: '/bad' })))).toBe('invalid');
    expect(providerErrorKind(await failure(client.request({ method: 'GET', path: '/missing' })))).toBe('not_found');
    expect(fake.requests).toHaveLength(2);
  });

  it('gives up after the retries with the last error, naming method, path and status', async () => {
    const { client, fake } = setup();
    fake.inject({ method: 'GET', path: /^\/x$/, times: 10, reply: { status: 502, body: {} } });
    const e = await failure(client.request({ method: 'GET', path: '/x' }));
    expect(e.message).toBe('test: GET /x returned HTTP 502');
    expect(e.context).toMatchObject({ status: 502, method: 'GET', path: '/x', provider: 'test', kind: 'transient' });
    expect(fake.requests).toHaveLength(4);
  });

  it('times out a slow answer: repeats a GET, not a POST, and fails with code timeout', async () => {
    const { client, fake } = setup({ timeoutMs: 40, retry: { retries: 1, minDelayMs: 1, maxDelayMs: 1 } });
    fake.inject({ path: /^\/slow$/, times: 10, reply: { status: 200, body: {}, delayMs: 400 } });
    const e = await failure(client.request({ method: 'GET', path: '/slow' }));
    expect(e.code).toBe('timeout');
    expect(e.context.timeoutMs).toBe(40);
    expect(fake.requests).toHaveLength(2);
    await failure(client.request({ method: 'POST', path: '/slow' }));
    expect(fake.requests).toHaveLength(3);
  });

  it('stops at once when the caller aborts', async () => {
    const { client } = setup();
    const ctl = new AbortController();
    ctl.abort();
    const e = await failure(client.request({ method: 'GET', path: '/x', signal: ctl.signal }));
    expect(isHvsnapError(e) ? e.code : String(e)).toBe('aborted');
  });

  it('logs in again once on 401, then gives up with kind auth', async () => {
    let logins = 0;
    fake = new FakeHttp(origin, (req) => {
      if (req.path === '/login') {
        logins++;
        return { status: 200, body: {}, headers: { 'x-auth-token': `tok-${logins}-abcdef` } };
      }
      return req.headers['x-auth-token'] === `tok-${logins}-abcdef` && req.path !== '/always401' ? { status: 200, body: {} } : { status: 401, body: {} };
    });
    const client = new HttpClient({
      provider: 'test',
      baseUrl: origin,
      logger: silentLogger,
      auth: tokenLoginAuth({ loginPath: '/login', credentialHeaders: { 'api-token': 'secret-token-1' }, tokenHeader: 'x-auth-token' }),
    });
    await client.request({ method: 'GET', path: '/a' });
    logins++; // the array forgets the session
    await client.request({ method: 'GET', path: '/a' });
    expect(logins).toBe(3);
    const e = await failure(client.request({ method: 'GET', path: '/always401' }));
    expect(providerErrorKind(e)).toBe('auth');
    expect(fake.requests.filter((r) => r.path === '/always401')).toHaveLength(2);
  });
});

describe('TLS options', () => {
  it('warns when certificate verification is turned off', () => {
    const logger = captureLogger();
    new HttpClient({ provider: 'test', baseUrl: origin, logger, tls: { insecure: true } });
    expect(
      logger.lines
        .filter((l) => l.level === 'warn')
        .map((l) => l.msg)
        .join(),
    ).toMatch(/TLS certificate verification is OFF/);
  });
  it('names a CA file it cannot read', () => {
    expect(() => new HttpClient({ provider: 'test', baseUrl: origin, logger: silentLogger, tls: { caFile: '/nonexistent/ca.pem' } })).toThrow(
      /cannot read CA file \/nonexistent\/ca.pem/,
    );
  });
});

describe('retryAfterMs', () => {
  it('reads seconds, HTTP dates, Pure minute/second windows and X-RateLimit-Reset', () => {
    expect(retryAfterMs({ 'retry-after': '3' })).toBe(3000);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000)).toBe(6000);
    expect(retryAfterMs({ 'x-ratelimit-remaining-minute': '0' })).toBe(60_000);
    expect(retryAfterMs({ 'x-ratelimit-remaining-second': '0', 'x-ratelimit-remaining-minute': '5' })).toBe(1000);
    expect(retryAfterMs({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '7' })).toBe(7000);
    expect(retryAfterMs({})).toBeUndefined();
  });
});

describe('pollJob', () => {
  it('polls until a terminal state, growing the interval', async () => {
    const states = ['queued', 'running', 'running', 'success'];
    const waits: number[] = [];
    const r = await pollJob({
      describe: 'job 1',
      fetch: async () => states.shift()!,
      state: (s) => (s === 'success' ? 'success' : s === 'failure' ? 'failure' : 'running'),
      intervalMs: 100,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect(r).toEqual({ job: 'success', state: 'success' });
    expect(waits).toHaveLength(3);
    expect(waits[2]!).toBeGreaterThan(waits[0]!);
  });
  it('fails with timeout when the job outlives timeoutMs', async () => {
    let now = 0;
    const e = await failure(
      pollJob({
        describe: 'job 2',
        fetch: async () => 'running',
        state: () => 'running',
        timeoutMs: 1000,
        now: () => now,
        sleep: async (ms) => {
          now += ms;
        },
      }),
    );
    expect(e.code).toBe('timeout');
    expect(e.message).toBe('job 2 still running after 1000 ms');
  });
});
