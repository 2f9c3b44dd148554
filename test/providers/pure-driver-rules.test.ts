import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { guardProvider } from '../../providers/sdk/guard-provider.js';
import { pureIdentityFromSerial } from '../../providers/sdk/disk-identity.js';
import { PureClient, createPureProvider, pureProvider } from '../../providers/pure/index.js';
import { FakePure } from './fake-pure.js';

/** The Pure defects the driver review found, each pinned against a fake that keeps the rule it broke. */
const closers: Array<() => void> = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});
const host = { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] };

function pure(opts: { eradicate?: boolean } = {}) {
  const fake = new FakePure('https://pure-rules.test', 'pure-token-rules');
  closers.push(() => fake.close());
  const client = new PureClient({
    endpoint: fake.origin,
    apiVersion: '2.26',
    apiToken: fake.apiToken,
    logger: silentLogger,
    retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 },
    sleep: async () => undefined,
  });
  const provider = guardProvider(createPureProvider(client, { eradicate: opts.eradicate ?? false }), { logger: silentLogger });
  return { fake, provider };
}

async function oneVolumeSet(fake: FakePure, provider: ReturnType<typeof pure>['provider'], name = 's1') {
  const [vol] = await provider.resolveVolumes({ identities: [pureIdentityFromSerial(fake.addVolume('csv1'))] });
  return provider.createSnapshot({ name, volumeIds: [vol!.id], consistencyGroup: false });
}

describe('Pure driver against the vendor rules', () => {
  it('keeps copy names within 63 characters, and two long presentation names apart', async () => {
    const { fake, provider } = pure();
    const set = await oneVolumeSet(fake, provider);
    const long = `hvsnap-restore-${'r'.repeat(60)}`;
    await provider.present({ name: `${long}-a`, snapshot: set, host });
    await provider.present({ name: `${long}-b`, snapshot: set, host });
    const copies = [...fake.volumes.keys()].filter((n) => n !== 'csv1');
    expect(copies).toHaveLength(2);
    expect(copies.every((n) => n.length <= 63)).toBe(true);
    await provider.unpresent({ name: `${long}-a` });
    expect([...fake.volumes.values()].filter((v) => !v.destroyed).map((v) => v.name)).toEqual(['csv1', copies[1]]);
  });

  it('finds an FC host by its WWN however the proxy spells it, instead of making a second host', async () => {
    const { fake, provider } = pure();
    fake.hosts.set('proxy-fc', { name: 'proxy-fc', iqns: [], wwns: ['10000000C9123456'], nqns: [], destroyed: false });
    const set = await oneVolumeSet(fake, provider);
    const p = await provider.present({ name: 'p1', snapshot: set, host: { name: 'another-name', wwns: ['10:00:00:00:c9:12:34:56'] } });
    expect(p.host).toBe('proxy-fc');
    expect(fake.http.seen('POST', /\/hosts$/)).toHaveLength(0);
    expect(p.target).toEqual({ transport: 'fc', wwpns: ['524a937a00000001'] });
  });

  it('makes temporary copies with with_default_protection=false, so SafeMode does not protect them', async () => {
    const { fake, provider } = pure();
    fake.safeMode = true;
    const set = await oneVolumeSet(fake, provider);
    await provider.present({ name: 'p1', snapshot: set, host });
    expect(fake.http.seen('POST', /\/volumes$/)[0]!.query.with_default_protection).toBe('false');
    expect([...fake.defaultProtected]).toEqual([]);
  });

  it('does not eradicate by default, and with eradicate on a SafeMode array still deletes (destroyed, not eradicated)', async () => {
    expect(pureProvider.configSchema.parse({ endpoint: 'https://x', apiToken: 't' }).eradicate).toBe(false);
    const { fake, provider } = pure({ eradicate: true });
    fake.safeMode = true;
    const set = await oneVolumeSet(fake, provider);
    await provider.deleteSnapshot({ name: 's1', handle: set });
    expect(fake.snaps.get('csv1.s1')?.destroyed).toBe(true);
  });

  it('presents again under a name whose earlier copy is destroyed but not eradicated', async () => {
    const { fake, provider } = pure();
    const set = await oneVolumeSet(fake, provider);
    const first = await provider.present({ name: 'p1', snapshot: set, host });
    await provider.unpresent({ name: 'p1' });
    const again = await provider.present({ name: 'p1', snapshot: set, host });
    expect(again.luns[0]!.identity.id).not.toBe(first.luns[0]!.identity.id);
    expect([...fake.volumes.values()].filter((v) => v.destroyed)).toHaveLength(1);
  });

  it('puts the protection group of ActiveCluster volumes inside their pod', async () => {
    const { fake, provider } = pure();
    const vols = await provider.resolveVolumes({ identities: ['pod1::a', 'pod1::b'].map((n) => pureIdentityFromSerial(fake.addVolume(n))) });
    const set = await provider.createSnapshot({ name: 'cg1', volumeIds: vols.map((v) => v.id), consistencyGroup: true });
    expect(set.groupId).toBe('pod1::hvsnap-cg1');
    expect([...fake.pgroups.keys()]).toEqual(['pod1::hvsnap-cg1']);
  });

  it('pages with limit, which the array needs before it gives a continuation_token', async () => {
    const { fake, provider } = pure();
    fake.pageSize = 2;
    const [vol] = await provider.resolveVolumes({ identities: [pureIdentityFromSerial(fake.addVolume('v1'))] });
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) await provider.createSnapshot({ name: n, volumeIds: [vol!.id], consistencyGroup: false });
    expect((await provider.listSnapshots({ prefix: 'p' })).map((s) => s.name).sort()).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
    expect(fake.http.seen('GET', /\/volume-snapshots$/).every((r) => r.query.limit !== undefined)).toBe(true);
  });
});
