import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { guardProvider } from '../../providers/sdk/guard-provider.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import { ontapIdentityFromSerial } from '../../providers/sdk/disk-identity.js';
import { OntapClient, createOntapProvider } from '../../providers/ontap/index.js';
import { FakeOntap } from './fake-ontap.js';
import { failure } from '../helpers/failure.js';

/** The ONTAP defects the driver review found, each pinned against a fake that keeps the rule it broke. */
const closers: Array<() => void> = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});
const host = { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] };

function ontap(opts: { returnTimeoutS?: number; timeoutMs?: number; osType?: string } = {}) {
  const fake = new FakeOntap('https://ontap-rules.test', 'hvsnap', 'ontap-pw-rules');
  closers.push(() => fake.close());
  const client = new OntapClient({
    endpoint: fake.origin,
    username: 'hvsnap',
    password: fake.password,
    svm: 'svm1',
    logger: silentLogger,
    returnTimeoutS: opts.returnTimeoutS ?? 15,
    jobTimeoutMs: 60_000,
    jobPollMs: 1,
    timeoutMs: opts.timeoutMs,
    retry: { retries: 3, minDelayMs: 1, maxDelayMs: 2 },
    sleep: async () => undefined,
  });
  const provider = guardProvider(createOntapProvider(client, { igroupOsType: opts.osType, igroupProtocol: 'mixed', sleep: async () => undefined }), {
    logger: silentLogger,
  });
  return { fake, provider };
}

/** LUN uuids the fake maps to igroups, with whether each sits in a FlexClone. */
const mapped = (fake: FakeOntap) =>
  fake.maps.map((m) => ({ lun: m.lun.name as string, inClone: fake.volumes.get(m.lun.location.volume.uuid)?.clone?.is_flexclone === true }));

describe('ONTAP driver against the vendor rules', () => {
  it("presenting the same snapshot twice maps two FlexClones' LUNs and never the source LUN", async () => {
    const { fake, provider } = ontap();
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    const a = await provider.present({ name: 'p1', snapshot: set, host });
    const b = await provider.present({ name: 'p2', snapshot: set, host });
    expect(mapped(fake)).toHaveLength(2);
    expect(mapped(fake).every((m) => m.inClone)).toBe(true);
    expect(a.luns[0]!.identity.id).not.toBe(b.luns[0]!.identity.id);
    expect([a.luns[0]!.identity.id, b.luns[0]!.identity.id]).not.toContain(vol!.identity.id);
  });

  it("a FlexClone carries its parent's snapshot: finding a set by name (retried create, list, delete) skips the clone", async () => {
    const { fake, provider } = ontap();
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    await provider.present({ name: 'p1', snapshot: set, host });
    const again = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    expect(again.volumes).toEqual(set.volumes);
    expect((await provider.listSnapshots({ prefix: 's1' }))[0]!.volumes).toEqual(set.volumes);
  });

  it('asks a job only for the fields the API defines (there is no job.error)', async () => {
    const { fake, provider } = ontap();
    fake.returnTimeoutHonoured = false;
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    const polls = fake.http.seen('GET', /\/cluster\/jobs\//);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((r) => !r.query.fields!.split(',').includes('error'))).toBe(true);
  });

  it('waits for a long-poll write longer than return_timeout and never sends the POST again', async () => {
    const { fake, provider } = ontap({ returnTimeoutS: 1, timeoutMs: 100 });
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    // ONTAP holds the write while its job runs, up to return_timeout: the answer comes after the client's base timeout
    fake.http.inject({ method: 'POST', path: /\/snapshots$/, reply: (req) => ({ ...fakeSnapshot(fake, req), delayMs: 400 }) });
    await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    expect(fake.http.seen('POST', /\/snapshots$/)).toHaveLength(1);
  });

  it('deletes the throw-away consistency group also when its create job fails after making it', async () => {
    const { fake, provider } = ontap();
    const vols = await provider.resolveVolumes({ identities: ['csv1', 'csv2'].map((n) => ontapIdentityFromSerial(fake.addLun(n))) });
    fake.http.inject({
      method: 'POST',
      path: /\/application\/consistency-groups$/,
      reply: (req) => {
        fake.cgs.set('cg-late', { uuid: 'cg-late', name: req.body.name, svm: { name: 'svm1' }, volumes: [] });
        return fake.job({ code: '2', message: 'job failed after the CG was made' });
      },
    });
    const e = await failure(provider.createSnapshot({ name: 's1', volumeIds: vols.map((v) => v.id), consistencyGroup: true }));
    expect(providerErrorKind(e)).toBe('invalid');
    expect([...fake.cgs.values()]).toEqual([]);
  });

  it('ONTAP 9.7 has no consistency groups: a set over two FlexVols is refused by checkSnapshot, saying why', async () => {
    const { fake, provider } = ontap();
    fake.version = { generation: 9, major: 7, minor: 0 };
    const vols = await provider.resolveVolumes({ identities: ['csv1', 'csv2'].map((n) => ontapIdentityFromSerial(fake.addLun(n))) });
    expect(provider.capabilities.consistencyGroups).toBe(false);
    const e = await failure(provider.checkSnapshot({ volumeIds: vols.map((v) => v.id), consistencyGroup: true }));
    expect(providerErrorKind(e)).toBe('unsupported');
    expect(e.message).toMatch(
      /2 FlexVols \(csv1, csv2\), and ONTAP 9\.7\.0 has no consistency-group API \(9\.10 and later\): move the LUNs .* into one FlexVol/,
    );
    expect(fake.http.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it("waits for a FlexClone's LUN that is listed only a moment after the clone job", async () => {
    const { fake, provider } = ontap();
    fake.lateLunLists = 2;
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    const p = await provider.present({ name: 'p1', snapshot: set, host });
    expect(p.luns).toHaveLength(1);
  });

  it('sends FC WWPNs colon-separated and picks the igroup os_type from the proxy OS', async () => {
    const { fake, provider } = ontap();
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    const p = await provider.present({ name: 'p1', snapshot: set, host: { name: 'proxy-fc', wwns: ['10000000C9123456'], osType: 'linux' } });
    const [ig] = [...fake.igroups.values()];
    expect(ig!.initiators).toEqual([{ name: '10:00:00:00:c9:12:34:56' }]);
    expect(ig!.os_type).toBe('linux');
    expect(p.target).toEqual({ transport: 'fc', wwpns: ['2000005056b40001'] });
  });

  it('gives the iSCSI target of the SVM: its IQN and its iSCSI data LIFs as portals', async () => {
    const { fake, provider } = ontap();
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    const p = await provider.present({ name: 'p1', snapshot: set, host });
    expect(p.target).toEqual({ transport: 'iscsi', iqns: ['iqn.1992-08.com.netapp:sn.fake:vs.3'], portals: ['192.0.2.10:3260'] });
    expect(p.luns[0]!.lun).toBe(0);
  });
});

/** What the fake makes for a snapshot POST (so a delayed injection still creates it). */
function fakeSnapshot(fake: FakeOntap, req: { path: string; body: any; query: Record<string, string> }) {
  const volUuid = req.path.split('/')[4]!;
  const snaps = fake.snapshots.get(volUuid)!;
  const s = { uuid: `snap-${snaps.size + 1}-${volUuid}`, name: req.body.name, comment: req.body.comment, create_time: new Date().toISOString() };
  snaps.set(s.uuid, s);
  return fake.job(undefined, req.query);
}

describe('ONTAP driver: FlexClone deletion and the volume recovery queue', () => {
  async function presentAndUnpresent(version: { generation: number; major: number; minor: number }) {
    const { fake, provider } = ontap();
    fake.version = version;
    const [vol] = await provider.resolveVolumes({ identities: [ontapIdentityFromSerial(fake.addLun('csv1'))] });
    const set = await provider.createSnapshot({ name: 's1', volumeIds: [vol!.id], consistencyGroup: false });
    await provider.present({ name: 'p1', snapshot: set, host });
    await provider.unpresent({ name: 'p1' });
    const deletes = fake.http.requests.filter((r) => r.method === 'DELETE' && /^\/api\/storage\/volumes\/[^/]+$/.test(r.path));
    return { fake, provider, set, deletes };
  }

  it('from ONTAP 9.12 deletes clones with force=true: nothing is left in the recovery queue holding space', async () => {
    const { fake, deletes } = await presentAndUnpresent({ generation: 9, major: 13, minor: 1 });
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.query.force).toBe('true');
    expect(fake.recoveryQueue).toEqual([]);
    expect([...fake.volumes.values()].filter((v) => v.clone?.is_flexclone)).toEqual([]);
  });

  it('on ONTAP 9.7 (no force parameter) deletes without it: the clone goes to the recovery queue, renamed, and the name is free again', async () => {
    const { fake, provider, set, deletes } = await presentAndUnpresent({ generation: 9, major: 7, minor: 0 });
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.query.force).toBeUndefined();
    expect(fake.recoveryQueue.map((v) => v.name)).toEqual([expect.stringMatching(/^p1_0_\d+$/)]);
    // the queue renames the volume (<oldname>_<DSID>), so the next present of the same name works
    await provider.present({ name: 'p1', snapshot: set, host });
    expect(fake.maps).toHaveLength(1);
  });

  it('the fake refuses force before 9.12, as the cluster does', async () => {
    const { fake } = ontap();
    fake.version = { generation: 9, major: 11, minor: 1 };
    fake.addLun('csv1');
    const uuid = [...fake.volumes.keys()][0]!;
    const res = await fetch(`${fake.origin}/api/storage/volumes/${uuid}?force=true`, {
      method: 'DELETE',
      headers: { authorization: 'Basic ' + Buffer.from(`hvsnap:${fake.password}`).toString('base64') },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: '262179', message: 'Unexpected argument "force".' });
    expect(fake.volumes.has(uuid)).toBe(true);
  });
});
