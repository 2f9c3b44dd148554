import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { guardProvider } from '../../providers/sdk/guard-provider.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import { powerstoreIdentityFromWwn } from '../../providers/sdk/disk-identity.js';
import { PowerstoreClient, createPowerstoreProvider, type PowerstoreProviderOptions } from '../../providers/powerstore/index.js';
import { FakePowerstore } from './fake-powerstore.js';
import { failure } from '../helpers/failure.js';

/** The PowerStore defects the driver review found, each pinned against a fake that keeps the rule it broke. */
const closers: Array<() => void> = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});
const host = { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] };

function powerstore(options: Partial<PowerstoreProviderOptions> = {}) {
  const fake = new FakePowerstore('https://ps-rules.test', 'hvsnap', 'ps-pw-rules');
  closers.push(() => fake.close());
  const client = new PowerstoreClient({
    endpoint: fake.origin,
    username: 'hvsnap',
    password: fake.password,
    logger: silentLogger,
    retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 },
    sleep: async () => undefined,
  });
  const provider = guardProvider(createPowerstoreProvider(client, options), { logger: silentLogger });
  return { fake, provider };
}

describe('PowerStore driver against the vendor rules', () => {
  it('takes a second retained consistency-group snapshot of the same volumes (one volume group per volume)', async () => {
    const { fake, provider } = powerstore();
    const vols = await provider.resolveVolumes({ identities: ['a', 'b'].map((n) => powerstoreIdentityFromWwn(fake.addVolume(n))) });
    const ids = vols.map((v) => v.id);
    const first = await provider.createSnapshot({ name: 'rp1', volumeIds: ids, consistencyGroup: true });
    const second = await provider.createSnapshot({ name: 'rp2', volumeIds: ids, consistencyGroup: true });
    expect(second.groupId).toBe(first.groupId);
    expect(second.volumes.map((v) => v.volumeId).sort()).toEqual([...ids].sort());
    // the group hvsnap made lives while a snapshot set of it does, and goes with the last one
    await provider.deleteSnapshot({ name: 'rp1', handle: first });
    expect(fake.groups.has(first.groupId!)).toBe(true);
    await provider.deleteSnapshot({ name: 'rp2', handle: second });
    expect(fake.groups.has(first.groupId!)).toBe(false);
  });

  it("snapshots through the customer's volume group that already holds the volumes, and leaves it in place", async () => {
    const { fake, provider } = powerstore();
    const vols = await provider.resolveVolumes({ identities: ['a', 'b', 'c'].map((n) => powerstoreIdentityFromWwn(fake.addVolume(n))) });
    fake.addVolumeGroup(
      'sql-cluster',
      vols.map((v) => v.id),
    );
    const set = await provider.createSnapshot({ name: 'rp1', volumeIds: [vols[0]!.id, vols[1]!.id], consistencyGroup: true });
    expect(set.volumes.map((v) => v.volumeId).sort()).toEqual([vols[0]!.id, vols[1]!.id].sort());
    await provider.deleteSnapshot({ name: 'rp1', handle: set });
    expect([...fake.groups.values()].map((g) => g.name)).toEqual(['sql-cluster']);
  });

  it('refuses, before creating anything, a set whose volumes are split over a volume group', async () => {
    const { fake, provider } = powerstore();
    const vols = await provider.resolveVolumes({ identities: ['a', 'b'].map((n) => powerstoreIdentityFromWwn(fake.addVolume(n))) });
    fake.addVolumeGroup('app', [vols[0]!.id]);
    const e = await failure(provider.checkSnapshot({ volumeIds: vols.map((v) => v.id), consistencyGroup: true }));
    expect(providerErrorKind(e)).toBe('wrong_state');
    expect(e.message).toMatch(/a in volume group app, b in no volume group.*one volume group/);
    expect(fake.http.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('two presents to a new host at once make one host; "name in use" from the other is success', async () => {
    const { fake, provider } = powerstore();
    const [a] = await provider.resolveVolumes({ identities: [powerstoreIdentityFromWwn(fake.addVolume('a'))] });
    const s1 = await provider.createSnapshot({ name: 's1', volumeIds: [a!.id], consistencyGroup: false });
    const s2 = await provider.createSnapshot({ name: 's2', volumeIds: [a!.id], consistencyGroup: false });
    const [p1, p2] = await Promise.all([provider.present({ name: 'p1', snapshot: s1, host }), provider.present({ name: 'p2', snapshot: s2, host })]);
    expect(fake.hosts.size).toBe(1);
    expect(p1.host).toBe(p2.host);
  });

  it('finds the host another process made between our look-up and our create', async () => {
    const { fake, provider } = powerstore();
    fake.http.inject({
      method: 'POST',
      path: /\/host$/,
      reply: (req) => {
        fake.hosts.set('h-other', { id: 'h-other', name: req.body.name, os_type: 'Windows', initiators: req.body.initiators });
        return {
          status: 422,
          body: { messages: [{ code: '0xE0A020010005', severity: 'Error', message_l10n: `The name ${req.body.name} is already in use` }] },
        };
      },
    });
    const h = await provider.ensureHost({ host });
    expect(h).toEqual({ id: 'h-other', name: 'proxy1', created: false });
  });

  it('sends CHAP credentials with iSCSI initiators when configured (cluster CHAP mode Single)', async () => {
    const { fake, provider } = powerstore({ chap: { username: 'hvsnap-chap', password: 'chap-secret-1234' } });
    fake.chapMode = 'Single';
    const made = await provider.ensureHost({ host });
    expect(made.created).toBe(true);
    expect(fake.http.seen('POST', /\/host$/)[0]!.body.initiators).toEqual([
      { port_name: 'iqn.1991-05.com.microsoft:proxy1', port_type: 'iSCSI', chap_single_username: 'hvsnap-chap', chap_single_password: 'chap-secret-1234' },
    ]);
  });

  it('normalizes FC port names to colon-separated lower case and finds the host by them', async () => {
    const { fake, provider } = powerstore();
    const made = await provider.ensureHost({ host: { name: 'proxy-fc', wwns: ['10000000C9123456'] } });
    expect([...fake.hosts.values()][0]!.initiators).toEqual([{ port_name: '10:00:00:00:c9:12:34:56', port_type: 'FC' }]);
    const again = await provider.ensureHost({ host: { name: 'proxy-fc-2', wwns: ['10:00:00:00:C9:12:34:56'] } });
    expect(again).toEqual({ ...made, created: false });
  });

  it('gives the iSCSI target: portals and IQN of the storage IPs with the iSCSI target purpose', async () => {
    const { fake, provider } = powerstore();
    const [a] = await provider.resolveVolumes({ identities: [powerstoreIdentityFromWwn(fake.addVolume('a'))] });
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [a!.id], consistencyGroup: false });
    const p = await provider.present({ name: 'p1', snapshot: set, host });
    expect(p.target).toEqual({ transport: 'iscsi', portals: ['192.0.2.30:3260'], iqns: ['iqn.2015-10.com.dell:dellemc-powerstore-fake-a'] });
    const fc = await provider.present({ name: 'p2', snapshot: set, host: { name: 'proxy-fc', wwns: ['10:00:00:00:c9:12:34:56'] } });
    expect(fc.target).toEqual({ transport: 'fc', wwpns: ['58ccf09049200c58'] });
  });
});
