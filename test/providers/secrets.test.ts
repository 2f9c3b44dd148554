import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { isHvsnapError } from '../../src/core/errors.js';
import { loadProvider } from '../../providers/index.js';
import type { Provider } from '../../providers/sdk/provider.js';
import { ontapIdentityFromSerial, powerstoreIdentityFromWwn, pureIdentityFromSerial } from '../../providers/sdk/disk-identity.js';
import { FakePure } from './fake-pure.js';
import { FakeOntap } from './fake-ontap.js';
import { FakePowerstore } from './fake-powerstore.js';

/**
 * No secret (password, API token, session token, cookie, Basic header) may appear in any log line or
 * in any thrown error: logs are captured at debug level through every auth flow (login, use, expiry
 * and re-login, failed login, logout) and searched, with every error's message, JSON, context and
 * cause chain.
 */
const closers: Array<() => void> = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});
const host = { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] };
const fast = { retry: { retries: 1, minDelayMs: 1, maxDelayMs: 1 } };

async function collect(errors: unknown[], p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    errors.push(e);
  }
}

/** Everything an error carries, as text: message, JSON, context, and the whole cause chain. */
function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let cur: any = e, i = 0; cur && i < 10; cur = cur.cause, i++) {
    parts.push(String(cur.message), inspect(cur, { depth: 10, showHidden: true }));
    if (isHvsnapError(cur)) parts.push(JSON.stringify(cur.toJSON()), JSON.stringify(cur.context));
  }
  return parts.join('\n');
}

function expectClean(what: string, texts: string[], secrets: string[]): void {
  const live = secrets.filter((s) => s && s.length >= 4);
  expect(live.length).toBeGreaterThan(0);
  for (const [i, t] of texts.entries()) for (const s of live) if (t.includes(s)) throw new Error(`${what}: secret found in item ${i}: ${t.slice(0, 300)}`);
}

async function exercise(p: Provider, identities: ReturnType<typeof pureIdentityFromSerial>[], expire: () => void, errors: unknown[]): Promise<void> {
  const vols = await p.resolveVolumes({ identities });
  const set = await p.createSnapshot({ name: 'sec1', volumeIds: vols.map((v) => v.id), consistencyGroup: true });
  expire();
  await p.present({ name: 'secp', snapshot: set, host });
  await p.unpresent({ name: 'secp' });
  await p.deleteSnapshot({ name: 'sec1', handle: set });
  await collect(errors, p.resolveVolumes({ identities: [{ kind: 'naa', id: '6' + '0'.repeat(31) }] }));
  await collect(errors, p.present({ name: 'x', snapshot: set, host }));
  await p.close!();
  await collect(errors, p.probe({}));
}

describe('no secret in logs or errors', () => {
  it('Pure: api-token login, x-auth-token use, 401 re-login, bad token, logout', async () => {
    const fake = new FakePure('https://pure-sec.test', 'PURE-API-TOKEN-0123456789');
    closers.push(() => fake.close());
    const logger = captureLogger();
    const errors: unknown[] = [];
    const p = await loadProvider({ provider: 'pure', config: { endpoint: fake.origin, apiToken: fake.apiToken, ...fast }, logger });
    await exercise(
      p,
      ['a', 'b'].map((n) => pureIdentityFromSerial(fake.addVolume(n))),
      () => fake.expireSessions(),
      errors,
    );
    const bad = await loadProvider({ provider: 'pure', config: { endpoint: fake.origin, apiToken: 'WRONG-TOKEN-abcdef', ...fast }, logger });
    await collect(errors, bad.probe({}));
    fake.http.inject({
      method: 'GET',
      path: /\/arrays$/,
      reply: (r) => ({ status: 400, body: { errors: [{ message: `echo ${r.headers['x-auth-token']}` }] } }),
    });
    const echo = await loadProvider({ provider: 'pure', config: { endpoint: fake.origin, apiToken: fake.apiToken, ...fast }, logger });
    await collect(errors, echo.probe({}));
    expect(fake.issued.length).toBeGreaterThanOrEqual(3);
    expect(errors.length).toBe(5);
    // the array echoed the session token in its error text: it must arrive redacted
    expect(errorText(errors[4])).toContain('echo [REDACTED]');
    expect(logger.lines.length).toBeGreaterThan(50);
    expect(JSON.stringify(logger.lines)).toContain('[REDACTED]');
    const secrets = [fake.apiToken, 'WRONG-TOKEN-abcdef', ...fake.issued];
    expectClean(
      'pure logs',
      logger.lines.map((l) => JSON.stringify(l)),
      secrets,
    );
    expectClean('pure errors', errors.map(errorText), secrets);
  });

  it('ONTAP: Basic on every call, wrong password', async () => {
    const fake = new FakeOntap('https://ontap-sec.test', 'hvsnap', 'ONTAP-PASSWORD-0123456789');
    closers.push(() => fake.close());
    const logger = captureLogger();
    const errors: unknown[] = [];
    const p = await loadProvider({
      provider: 'ontap',
      config: { endpoint: fake.origin, username: 'hvsnap', password: fake.password, svm: 'svm1', jobPollMs: 1, ...fast },
      logger,
    });
    await exercise(
      p,
      ['a', 'b'].map((n) => ontapIdentityFromSerial(fake.addLun(n))),
      () => undefined,
      errors,
    );
    const bad = await loadProvider({
      provider: 'ontap',
      config: { endpoint: fake.origin, username: 'hvsnap', password: 'WRONG-PASSWORD-abcdef', svm: 'svm1', ...fast },
      logger,
    });
    await collect(errors, bad.probe({}));
    expect(errors.length).toBe(4);
    const b64 = (pw: string) => Buffer.from(`hvsnap:${pw}`).toString('base64');
    const secrets = [fake.password, 'WRONG-PASSWORD-abcdef', b64(fake.password), b64('WRONG-PASSWORD-abcdef')];
    expectClean(
      'ontap logs',
      logger.lines.map((l) => JSON.stringify(l)),
      secrets,
    );
    expectClean('ontap errors', errors.map(errorText), secrets);
  });

  it('PowerStore: login_session, DELL-EMC-TOKEN + auth_cookie, 401 re-login, wrong password, logout', async () => {
    const fake = new FakePowerstore('https://ps-sec.test', 'hvsnap', 'PS-PASSWORD-0123456789');
    closers.push(() => fake.close());
    const logger = captureLogger();
    const errors: unknown[] = [];
    const p = await loadProvider({ provider: 'powerstore', config: { endpoint: fake.origin, username: 'hvsnap', password: fake.password, ...fast }, logger });
    await exercise(
      p,
      ['a', 'b'].map((n) => powerstoreIdentityFromWwn(fake.addVolume(n))),
      () => fake.expireSessions(),
      errors,
    );
    const bad = await loadProvider({
      provider: 'powerstore',
      config: { endpoint: fake.origin, username: 'hvsnap', password: 'WRONG-PASSWORD-abcdef', ...fast },
      logger,
    });
    await collect(errors, bad.probe({}));
    expect(fake.issued.length).toBeGreaterThanOrEqual(4);
    expect(errors.length).toBe(4);
    const b64 = (pw: string) => Buffer.from(`hvsnap:${pw}`).toString('base64');
    const secrets = [fake.password, 'WRONG-PASSWORD-abcdef', b64(fake.password), b64('WRONG-PASSWORD-abcdef'), ...fake.issued];
    expectClean(
      'powerstore logs',
      logger.lines.map((l) => JSON.stringify(l)),
      secrets,
    );
    expectClean('powerstore errors', errors.map(errorText), secrets);
  });
});
