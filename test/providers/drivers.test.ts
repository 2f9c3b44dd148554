import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { guardProvider } from '../../providers/sdk/guard-provider.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import { sessionCookieAuth } from '../../providers/sdk/auth.js';
import { ontapIdentityFromSerial, powerstoreIdentityFromWwn, pureIdentityFromSerial } from '../../providers/sdk/disk-identity.js';
import { PureClient, createPureProvider } from '../../providers/pure/index.js';
import { OntapClient, createOntapProvider } from '../../providers/ontap/index.js';
import { PowerstoreClient, createPowerstoreProvider } from '../../providers/powerstore/index.js';
import { FakePure } from './fake-pure.js';
import { FakeOntap } from './fake-ontap.js';
import { FakePowerstore } from './fake-powerstore.js';
import { failure } from '../helpers/failure.js';

const closers: Array<() => void> = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});
const host = { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] };
const retry = { retries: 3, minDelayMs: 1, maxDelayMs: 2 };

function pure(opts: { eradicate?: boolean; timeoutMs?: number } = {}) {
  const fake = new FakePure('https://pure-drv.test', 'pure-token-drv');
  closers.push(() => fake.close());
  const waits: number[] = [];
  const client = new PureClient({
    endpoint: fake.origin,
    apiVersion: '2.26',
    apiToken: fake.apiToken,
    logger: silentLogger,
    retry,
    timeoutMs: opts.timeoutMs,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  const provider = guardProvider(createPureProvider(client, { eradicate: opts.eradicate ?? true }), { logger: silentLogger });
  return { fake, provider, waits };
}

describe('Pure FlashArray driver', () => {
  it('logs in again when the session expires, once', async () => {
    const { fake, provider } = pure();
    const [vol] = await provider.resolveVolumes({ identities: [pureIdentityFromSerial(fake.addVolume('v1'))] });
    await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    fake.expireSessions();
    expect((await provider.listSnapshots({ prefix: 's' })).map((s) => s.name)).toEqual(['s1']);
    expect(fake.http.seen('POST', /\/login$/)).toHaveLength(2);
    expect(fake.http.requests.filter((r) => r.headers['api-token']).every((r) => r.path.endsWith('/login'))).toBe(true);
  });

  it('waits as the X-RateLimit headers say on 429 and repeats; a 500 is final; 502 is repeated', async () => {
    const { fake, provider, waits } = pure();
    fake.addVolume('v1');
    fake.http.inject({
      method: 'GET',
      path: /\/arrays$/,
      reply: {
        status: 429,
        body: { errors: [{ message: 'Too many requests' }] },
        headers: { 'x-ratelimit-limit-second': '10', 'x-ratelimit-remaining-second': '0', 'x-ratelimit-remaining-minute': '100' },
      },
    });
    expect((await provider.probe({})).vendor).toBe('Pure Storage');
    expect(waits).toEqual([1000]);
    fake.http.inject({ method: 'GET', path: /\/arrays$/, reply: { status: 500, body: { errors: [{ message: 'internal' }] } } });
    const e = await failure(provider.probe({}));
    expect(e.message).toMatch(/GET \/arrays returned HTTP 500: internal/);
    fake.http.inject({ method: 'GET', path: /\/arrays$/, times: 2, reply: { status: 502, body: {} } });
    await provider.probe({});
    expect(fake.http.seen('GET', /\/arrays$/)).toHaveLength(6);
  });

  it('does not repeat a 400 and maps "does not exist" to not_found', async () => {
    const { fake, provider } = pure();
    const e = await failure(provider.createSnapshot({ name: 's1', volumeIds: ['nope'], consistencyGroup: false }));
    expect(providerErrorKind(e)).toBe('not_found');
    expect(e.context).toMatchObject({ status: 400, method: 'POST', path: '/volume-snapshots', provider: 'pure', operation: 'createSnapshot' });
    expect(fake.http.seen('POST', /\/volume-snapshots$/)).toHaveLength(1);
  });

  it('follows continuation_token through every page', async () => {
    const { fake, provider } = pure();
    fake.pageSize = 1;
    const [vol] = await provider.resolveVolumes({ identities: [pureIdentityFromSerial(fake.addVolume('v1'))] });
    for (const n of ['p1', 'p2', 'p3']) await provider.createSnapshot({ name: n, volumeIds: [vol!.id], consistencyGroup: false });
    expect((await provider.listSnapshots({ prefix: 'p' })).map((s) => s.name).sort()).toEqual(['p1', 'p2', 'p3']);
    expect(
      fake.http
        .seen('GET', /\/volume-snapshots$/)
        .filter((r) => r.query.continuation_token)
        .map((r) => r.query.continuation_token),
    ).toEqual(['1', '2']);
  });

  it('destroys then eradicates, or only destroys when eradicate is off', async () => {
    for (const eradicate of [true, false]) {
      const { fake, provider } = pure({ eradicate });
      const [vol] = await provider.resolveVolumes({ identities: [pureIdentityFromSerial(fake.addVolume('v1'))] });
      await provider.createSnapshot({ name: 'd1', volumeIds: [vol!.id], consistencyGroup: false });
      await provider.deleteSnapshot({ name: 'd1' });
      expect(fake.http.seen('PATCH', /\/volume-snapshots$/).map((r) => r.body)).toEqual([{ destroyed: true }]);
      expect(fake.http.seen('DELETE', /\/volume-snapshots$/)).toHaveLength(eradicate ? 1 : 0);
      expect(fake.snaps.get('v1.d1')?.destroyed ?? 'gone').toBe(eradicate ? 'gone' : true);
      fake.close();
    }
  });

  it('a consistency group uses a protection group hvsnap-<name> and its snapshot', async () => {
    const { fake, provider } = pure();
    const vols = await provider.resolveVolumes({ identities: ['a', 'b'].map((n) => pureIdentityFromSerial(fake.addVolume(n))) });
    const set = await provider.createSnapshot({ name: 'cg1', volumeIds: vols.map((v) => v.id), consistencyGroup: true });
    expect(set).toMatchObject({
      id: 'hvsnap-cg1.cg1',
      consistencyGroup: true,
      volumes: [
        { volumeId: 'a', snapshotId: 'hvsnap-cg1.cg1.a' },
        { volumeId: 'b', snapshotId: 'hvsnap-cg1.cg1.b' },
      ],
    });
    expect(fake.http.seen('POST', /\/protection-group-snapshots$/).map((r) => [r.query.source_names, r.body])).toEqual([['hvsnap-cg1', { suffix: 'cg1' }]]);
  });

  it('stops a slow call when the caller aborts, and logs out on close', async () => {
    const { fake, provider } = pure();
    await provider.probe({});
    fake.http.inject({ method: 'GET', path: /\/arrays$/, times: 10, reply: { status: 200, body: { items: [] }, delayMs: 5_000 } });
    const ctl = new AbortController();
    const pending = failure(provider.probe({}, { signal: ctl.signal }));
    setTimeout(() => ctl.abort(), 20);
    expect((await pending).code).toBe('aborted');
    await provider.close!();
    expect(fake.http.seen('POST', /\/logout$/)).toHaveLength(1);
  });

  it('times out a slow array and repeats only the safe requests', async () => {
    const { fake, provider } = pure({ timeoutMs: 40 });
    fake.addVolume('v1');
    fake.http.inject({ method: 'GET', path: /\/arrays$/, times: 10, reply: { status: 200, body: { items: [] }, delayMs: 300 } });
    const e = await failure(provider.probe({}));
    expect(e.code).toBe('timeout');
    expect(fake.http.seen('GET', /\/arrays$/)).toHaveLength(4);
  });
});

function ontap(opts: { jobTimeoutMs?: number; password?: string } = {}) {
  const fake = new FakeOntap('https://ontap-drv.test', 'hvsnap', 'ontap-pw-drv');
  closers.push(() => fake.close());
  const client = new OntapClient({
    endpoint: fake.origin,
    username: 'hvsnap',
    password: opts.password ?? fake.password,
    svm: 'svm1',
    logger: silentLogger,
    returnTimeoutS: 15,
    jobTimeoutMs: opts.jobTimeoutMs ?? 60_000,
    jobPollMs: 1,
    retry,
    sleep: async () => undefined,
  });
  const provider = guardProvider(createOntapProvider(client, { igroupOsType: 'hyper_v', igroupProtocol: 'mixed' }), { logger: silentLogger });
  return { fake, provider };
}

describe('ONTAP driver', () => {
  it("waits for 202 jobs with return_timeout, and maps a failed job's code to a portable kind", async () => {
    const { fake, provider } = ontap();
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('v1'))] });
    fake.returnTimeoutHonoured = false;
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    const post = fake.http.seen('POST', /\/snapshots$/)[0]!;
    expect(post.query.return_timeout).toBe('15');
    expect(fake.http.seen('GET', /\/cluster\/jobs\//).length).toBeGreaterThanOrEqual(2);
    await provider.present({ name: 'p1', snapshot: set, host });
    // a FlexClone pins its snapshot: the delete job fails with 1638555
    const e = await failure(provider.deleteSnapshot({ name: 's1', handle: set }));
    expect(providerErrorKind(e)).toBe('busy');
    expect(e.context.vendorCode).toBe('1638555');
    await provider.unpresent({ name: 'p1' });
    await provider.deleteSnapshot({ name: 's1', handle: set });
  });

  it('follows _links.next.href through every page', async () => {
    const { fake, provider } = ontap();
    fake.pageSize = 1;
    const ids = ['a', 'b', 'c'].map((n) => ontapIdentityFromSerial(fake.addLun(n)));
    const vols = await provider.resolveVolumes({ identities: ids });
    for (const v of vols) await provider.createSnapshot({ name: `n-${v.name.split('/')[2]}`, volumeIds: [v.id], consistencyGroup: false });
    expect((await provider.listSnapshots({ prefix: 'n-' })).map((s) => s.name).sort()).toEqual(['n-a', 'n-b', 'n-c']);
    expect(fake.http.requests.filter((r) => r.query['start.offset']).length).toBeGreaterThan(0);
  });

  it('a 404 is not repeated and is not_found', async () => {
    const { fake, provider } = ontap();
    const e = await failure(provider.createSnapshot({ name: 's1', volumeIds: ['no-such-lun'], consistencyGroup: false }));
    expect(providerErrorKind(e)).toBe('not_found');
    expect(fake.http.seen('GET', /\/storage\/luns\/no-such-lun$/)).toHaveLength(1);
  });

  it('a wrong password is auth, asked once, not repeated', async () => {
    const { fake, provider } = ontap({ password: 'wrong-password' });
    const e = await failure(provider.probe({}));
    expect(providerErrorKind(e)).toBe('auth');
    expect(fake.http.requests).toHaveLength(1);
  });

  it('repeats a GET after 503 and a named snapshot POST (safe: it is idempotent by name)', async () => {
    const { fake, provider } = ontap();
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('v1'))] });
    fake.http.inject({ method: 'POST', path: /\/snapshots$/, reply: { status: 503, body: { error: { message: 'busy', code: '2' } } } });
    fake.http.inject({ method: 'GET', path: /\/storage\/volumes$/, reply: { status: 503, body: {} } });
    await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    expect(fake.http.seen('POST', /\/snapshots$/)).toHaveLength(2);
  });

  it('gives up on a job that never ends with code timeout', async () => {
    const { fake, provider } = ontap({ jobTimeoutMs: 50 });
    fake.returnTimeoutHonoured = false;
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('v1'))] });
    fake.http.inject({
      method: 'GET',
      path: /\/cluster\/jobs\//,
      times: 100_000,
      reply: (r) => ({ status: 200, body: { uuid: r.path.split('/').pop(), state: 'running' } }),
    });
    const e = await failure(provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false }));
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/ONTAP job .* \(snapshot v1\) still running after 50 ms/);
  });
});

function powerstore() {
  const fake = new FakePowerstore('https://ps-drv.test', 'hvsnap', 'ps-pw-drv');
  closers.push(() => fake.close());
  const client = new PowerstoreClient({
    endpoint: fake.origin,
    username: 'hvsnap',
    password: fake.password,
    logger: silentLogger,
    pageSize: 1000,
    retry,
    sleep: async () => undefined,
  });
  const provider = guardProvider(createPowerstoreProvider(client, { hostOsType: 'Windows' }), { logger: silentLogger });
  return { fake, provider };
}

describe('PowerStore driver', () => {
  it('pages through 206 Partial Content answers by Content-Range', async () => {
    const { fake, provider } = powerstore();
    fake.maxRows = 1;
    const ids = ['a', 'b', 'c'].map((n) => powerstoreIdentityFromWwn(fake.addVolume(n)));
    const vols = await provider.resolveVolumes({ identities: ids });
    for (const v of vols) await provider.createSnapshot({ name: `n-${v.name}`, volumeIds: [v.id], consistencyGroup: false });
    expect((await provider.listSnapshots({ prefix: 'n-' })).map((s) => s.name).sort()).toEqual(['n-a', 'n-b', 'n-c']);
    const offsets = fake.http.requests.filter((r) => r.path === '/api/rest/volume' && r.query.description?.startsWith('like.')).map((r) => r.query.offset);
    expect(offsets).toEqual(['0', '1', '2']);
  });

  it('logs in with Basic, then sends DELL-EMC-TOKEN and the auth_cookie; logs in again after a 401', async () => {
    const { fake, provider } = powerstore();
    fake.addVolume('a');
    await provider.probe({});
    fake.expireSessions();
    await provider.probe({});
    expect(fake.http.seen('GET', /\/login_session$/)).toHaveLength(2);
    const later = fake.http.requests.filter((r) => !r.path.endsWith('/login_session'));
    expect(later.every((r) => !r.headers.authorization && r.headers['dell-emc-token'] && /auth_cookie=/.test(r.headers.cookie ?? ''))).toBe(true);
  });

  it('a 422 is not repeated; detaching what is not attached succeeds', async () => {
    const { fake, provider } = powerstore();
    const [a] = await provider.resolveVolumes({ identities: [powerstoreIdentityFromWwn(fake.addVolume('a'))] });
    await provider.createSnapshot({ name: 's1', volumeIds: [a!.id], consistencyGroup: false });
    fake.http.inject({
      method: 'POST',
      path: /\/snapshot$/,
      reply: { status: 422, body: { messages: [{ code: '0xE0A040010003', severity: 'Error', message_l10n: 'too many snapshots' }] } },
    });
    const e = await failure(provider.createSnapshot({ name: 's2', volumeIds: [a!.id], consistencyGroup: false }));
    expect(providerErrorKind(e)).toBe('limit_exceeded');
    expect(e.context.vendorCode).toBe('0xE0A040010003');
    expect(fake.http.seen('POST', /\/snapshot$/)).toHaveLength(2);
    const [s1] = await provider.listSnapshots({ prefix: 's1' });
    const p = await provider.present({ name: 'p1', snapshot: s1!, host });
    fake.mappings = []; // someone detached it behind our back
    await provider.unpresent({ name: 'p1' });
    expect(fake.http.seen('POST', /\/detach$/)).toHaveLength(0);
    expect(p.luns[0]!.lun).toBe(1);
  });

  it('logs in again before the idle timeout would drop the session', async () => {
    let now = 0;
    let logins = 0;
    const auth = sessionCookieAuth({
      loginPath: '/login_session',
      username: 'u',
      password: 'p',
      tokenHeader: 'DELL-EMC-TOKEN',
      cookieName: 'auth_cookie',
      idleTimeoutSeconds: () => 100,
      now: () => now,
    });
    const send = async () => {
      logins++;
      return { status: 200, headers: { 'dell-emc-token': `t${logins}`, 'set-cookie': `auth_cookie=c${logins}; Path=/` }, data: [{ idle_timeout: 100 }] };
    };
    expect(await auth.headers(send)).toEqual({ 'DELL-EMC-TOKEN': 't1', cookie: 'auth_cookie=c1' });
    now = 50_000;
    await auth.headers(send);
    now = 150_000;
    expect(await auth.headers(send)).toEqual({ 'DELL-EMC-TOKEN': 't2', cookie: 'auth_cookie=c2' });
  });
});
