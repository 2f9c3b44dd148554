import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger, silentLogger } from '../../src/core/logger.js';
import { HttpClient } from '../../providers/sdk/http-client.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';

/** A real HTTPS server on 127.0.0.1 with a self-signed certificate (fixtures/): TLS verification is real. */
const cert = readFileSync(new URL('./fixtures/test-array-cert.pem', import.meta.url), 'utf8');
const key = readFileSync(new URL('./fixtures/test-array-key.pem', import.meta.url), 'utf8');
let server: Server;
let baseUrl: string;
let failedHandshakes = 0;

beforeAll(async () => {
  server = createServer({ cert, key }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  server.on('tlsClientError', () => {
    failedHandshakes++;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('TLS against a real HTTPS server', () => {
  it('refuses an untrusted certificate, once, with a hint', async () => {
    const client = new HttpClient({ provider: 'test', baseUrl, logger: silentLogger, retry: { retries: 2, minDelayMs: 1, maxDelayMs: 1 } });
    const e = await client.request({ method: 'GET', path: '/x' }).then(
      () => undefined,
      (x) => x,
    );
    expect(providerErrorKind(e)).toBe('auth');
    expect(e.message).toMatch(/TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
    expect(e.hint).toMatch(/caFile/);
    // the server notices the refused handshake(s) a moment later; retries would all have happened before the rejection
    for (let i = 0; i < 200 && failedHandshakes === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20));
    expect(failedHandshakes).toBe(1);
    await client.close();
  });

  it('trusts the certificate given as the CA (ca text or caFile)', async () => {
    for (const tls of [{ ca: cert }, { caFile: new URL('./fixtures/test-array-cert.pem', import.meta.url).pathname }]) {
      const client = new HttpClient({ provider: 'test', baseUrl, logger: silentLogger, tls });
      expect((await client.request<{ path: string }>({ method: 'GET', path: '/ok' })).data.path).toBe('/ok');
      await client.close();
    }
  });

  it('connects with insecure: true, and says so in a warning', async () => {
    const logger = captureLogger();
    const client = new HttpClient({ provider: 'test', baseUrl, logger, tls: { insecure: true } });
    expect((await client.request<{ path: string }>({ method: 'GET', path: '/i' })).data.path).toBe('/i');
    expect(logger.lines.some((l) => l.level === 'warn' && /verification is OFF/.test(l.msg ?? ''))).toBe(true);
    await client.close();
  });
});
