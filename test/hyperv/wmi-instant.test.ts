import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readVolumeMarker } from '../../src/core/volume-marker.js';
import { WmiHypervisor } from '../../src/hyperv/wmi-hypervisor.js';
import { WmiInstantHost } from '../../src/hyperv/wmi-instant-host.js';
import { cleanupInstant, commitInstant, discardInstant, instantRestore, listInstant, type InstantEnv } from '../../src/restore/instant/instant-restore.js';
import { sessionDir } from '../../src/restore/instant/instant-sessions.js';
import { buildForChild } from '../helpers/child-build.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { runKilledScript } from '../helpers/kill-cli.js';
import { addInstantStorage } from './simulated-instant.js';
import { SimulatedHost } from './simulated-host.js';
import type { CallOptions } from '../../src/core/types.js';
import type { InstantStepName } from '../../src/backup/types.js';
import { providerError } from '../../providers/sdk/errors.js';
import type { HostHandle, HostSpec, Provider, ProviderCapabilities } from '../../providers/sdk/provider.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/**
 * The instant-restore flows against the simulated WMI host: the array is the lab array (its
 * presentation records are the SAN the simulated host rescans), the restore point holds the
 * configuration the simulated host exported, and every host step goes through the .ps1 scripts'
 * answer shapes.
 */
async function setUp() {
  env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
  const sim = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
  sim.addVm('sql01', { disks: 2 });
  const storage = addInstantStorage(sim, join(env.labDir, 'array'));
  const hypervisor = new WmiHypervisor({ nodes: [{ name: 'HV01', shell: sim.shell }] });
  const [vm] = await hypervisor.listVms({ names: ['sql01'] });
  const cp = await hypervisor.createCheckpoint({ vmId: vm.id, name: 'hvsnap:t1', consistency: 'crash' });
  const config = await hypervisor.exportConfiguration({ checkpoint: cp });
  await hypervisor.deleteCheckpoint({ vmId: vm.id, checkpointId: cp.id });
  // the kept array snapshot of the VM's volume, and a snapshot-only restore point over it
  const marker = await readVolumeMarker(join(env.labDir, 'volumes', 'Volume1'));
  const [volume] = await env.provider.resolveVolumes({ identities: [marker.identity] });
  const snapshot = await env.provider.createSnapshot({ name: 'hvsnap-t1-set1', volumeIds: [volume.id], consistencyGroup: false });
  const writer = await env.repository.beginRestorePoint({ jobId: 't1', vmId: vm.id, vmName: vm.name });
  for (const f of config) await writer.writeConfigFile(`config/${f.name}`, f.data);
  const manifest = await writer.commit({
    jobId: 't1',
    vm: { id: vm.id, name: vm.name, host: 'HV01', configVersion: '10.0', generation: 2 },
    createdAt: new Date().toISOString(),
    mode: 'snapshot-only',
    consistency: 'crash',
    arraySnapshots: [{ provider: env.provider.name, name: snapshot.name, retained: true }],
    disks: [],
    snapshotDisks: cp.disks.map((d, i) => ({
      diskId: d.diskId,
      virtualDiskId: d.virtualDiskId,
      sourcePath: d.path,
      virtualSize: d.sizeBytes,
      volume: { identity: marker.identity, volumeRoot: 'C:\\ClusterStorage\\Volume1' },
      relativePath: `sql01/Virtual Hard Disks/sql01-${i}.vhdx`,
    })),
    configFiles: config.map((f) => `config/${f.name}`),
    timings: {},
  });
  const host = new WmiInstantHost({ name: 'HV01', shell: sim.shell });
  // the lab array, recording whom each presentation was for (`transports` stands for a SAN array's, where asked)
  const lab = env.provider;
  const presented: HostSpec[] = [];
  const san = {
    transports: undefined as ProviderCapabilities['transports'],
    /**
     * a SAN array's host objects, as the provider contract has them (providers/README.md, ensureHost and findHost):
     * found by any initiator they hold, made by ensureHost; a double of our SDK contract, not of one vendor
     */
    hosts: [] as Array<{ handle: HostHandle; initiators: string[] }>,
    removed: [] as HostHandle[],
    /** ensureHost makes the host and never answers (a process killed while it waits) */
    dieInEnsure: false,
    /** ensureHost calls */
    ensured: 0,
    /** presentation name → the id of the host object it is mapped to */
    mapped: new Map<string, string>(),
  };
  const initiatorsOf = (h: HostSpec) => [...(h.iqns ?? []), ...(h.wwns ?? [])];
  const holding = (h: HostSpec) => san.hosts.find((x) => x.initiators.some((i) => initiatorsOf(h).includes(i)));
  const provider = Object.create(lab) as Provider;
  Object.defineProperties(provider, {
    capabilities: { get: () => ({ ...lab.capabilities, ...(san.transports && { transports: san.transports }) }) },
    findHost: {
      value: async ({ host }: { host: HostSpec }) => {
        const x = holding(host);
        return x && { ...x.handle, created: false };
      },
    },
    ensureHost: {
      value: async ({ host }: { host: HostSpec }) => {
        san.ensured++;
        const x = holding(host);
        if (x) return { ...x.handle, created: false };
        const handle = { id: `host-${san.hosts.length + 1}`, name: host.name, created: true };
        san.hosts.push({ handle, initiators: initiatorsOf(host) });
        return san.dieInEnsure ? new Promise<never>(() => undefined) : handle;
      },
    },
    removeHost: {
      // the contract (providers/sdk/provider.ts, providers/README.md): succeeds when missing, wrong_state while LUNs are mapped to it;
      // the vendor rule behind it: Pure's DELETE /hosts fails while connections exist (reference/array-apis.md, [PPC-host], [C-pure])
      value: async ({ host }: { host: HostHandle }) => {
        if ([...san.mapped.values()].includes(host.id)) throw providerError('wrong_state', `host ${host.name} still has LUNs mapped`);
        if (!san.hosts.some((x) => x.handle.id === host.id)) return;
        san.hosts.splice(
          san.hosts.findIndex((x) => x.handle.id === host.id),
          1,
        );
        san.removed.push(host);
      },
    },
    present: {
      value: (a: Parameters<Provider['present']>[0], o?: CallOptions) => {
        presented.push(a.host);
        const to = holding(a.host);
        if (to) san.mapped.set(a.name, to.handle.id);
        return lab.present(a, o);
      },
    },
    unpresent: {
      value: async (a: Parameters<Provider['unpresent']>[0], o?: CallOptions) => {
        await lab.unpresent(a, o);
        san.mapped.delete(a.name);
      },
    },
  });
  const ie: InstantEnv = { ...env, provider, hypervisor, hostFor: () => host, arrayKey: 'array-1' };
  return { sim, storage, running: storage.running, ie, host, source: vm, restorePointId: manifest.id, presented, san };
}

/**
 * No presentation on the array, no clone disk online on the host, no journal; the VMs are the ones
 * named. `neverPresented`: the array never made a presentation (so it has no presentations folder).
 */
async function assertNothingLeft(e: LabEnv, ctx: Awaited<ReturnType<typeof setUp>>, vmNames: string[], neverPresented = false) {
  expect(await listInstant(ctx.ie)).toEqual([]);
  const presentations = join(e.labDir, 'array', 'presentations');
  if (neverPresented) expect(existsSync(presentations)).toBe(false);
  else expect(await readdir(presentations)).toEqual([]);
  expect(ctx.storage.disks.filter((d) => !d.isOffline || d.accessPaths.length)).toEqual([]);
  expect(ctx.sim.vms.map((v) => v.name).sort()).toEqual([...vmNames].sort());
}

/** Marks the one instant-restore journal as left by a process that is gone (as cleanup finds a dead one); returns its id. */
async function markOwnerDead(which: (s: { id: string }) => boolean = () => true): Promise<string> {
  const dir = sessionDir(env!.repository.path);
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).map((f) => join(dir, f))) {
    const record = JSON.parse(await readFile(file, 'utf8'));
    if (!which(record)) continue;
    await writeFile(file, JSON.stringify({ ...record, owner: { ...record.owner, pid: spawnSync('true').pid } }));
    return record.id;
  }
  throw new Error('no instant-restore journal to mark dead');
}

/** Runs an instant restore that stops for good right after `step`'s side effect and journal entry (as if killed there); returns the session id, its owner gone. */
async function dieAt(ctx: Awaited<ReturnType<typeof setUp>>, step: InstantStepName, which?: (s: { id: string }) => boolean): Promise<string> {
  let died!: () => void;
  const reached = new Promise<void>((ok) => (died = ok));
  const dying = (s: string) => (s === step ? (died(), new Promise<void>(() => undefined)) : Promise.resolve());
  void instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now', afterStep: dying });
  await reached;
  return markOwnerDead(which);
}

describe('instant restore on the simulated WMI host', () => {
  it('presents to the host, onlines with a new GUID (a collision), imports on the clone beside the original, starts; discard leaves nothing', async () => {
    const ctx = await setUp();
    const s = await instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' });
    // presented by the initiators the host reports (Get-InitiatorPort): the array maps the clone to the host object it knows HV01 by
    expect(ctx.presented).toEqual([{ name: 'HV01', iqns: ['iqn.1991-05.com.microsoft:hv01.contoso.local'], wwns: ['20000025b5bb0001'] }]);
    expect(s.vm.newId).toBe(true);
    expect(ctx.storage.disks).toMatchObject([{ isOffline: false, isReadOnly: false, guid: expect.stringMatching(/^\{NEW-/) }]);
    const root = s.luns[0].volumeRoot!;
    expect(root).toMatch(/^C:\\ClusterStorage\\hvsnap\\[0-9a-f]{12}$/);
    const vm = ctx.sim.vms.find((v) => v.name === 'sql01-now')!;
    expect(vm.id).not.toBe(ctx.source.id);
    expect(vm.disks.map((d) => d.path)).toEqual([`${root}\\sql01\\Virtual Hard Disks\\sql01-0.vhdx`, `${root}\\sql01\\Virtual Hard Disks\\sql01-1.vhdx`]);
    expect(await ctx.host.vmState({ vmId: vm.id })).toEqual({ running: true });
    // the original is untouched
    expect(ctx.sim.vms.find((v) => v.id === ctx.source.id)!.disks[0].path).toMatch(/^C:\\ClusterStorage\\Volume1\\/);
    // the clone cannot go offline while the VM is on it
    await expect(ctx.host.offlineDisk({ lun: s.luns[0] })).rejects.toMatchObject({ code: 'vm_in_use' });

    await discardInstant(ctx.ie, { id: s.id });
    await assertNothingLeft(env!, ctx, ['sql01']);
  });

  it('commit moves the running VM to production storage, then releases the clone', async () => {
    const ctx = await setUp();
    const s = await instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' });
    await commitInstant(ctx.ie, { id: s.id, destinationDir: 'C:\\ClusterStorage\\Volume1\\sql01-now' });
    const vm = ctx.sim.vms.find((v) => v.name === 'sql01-now')!;
    expect(vm.disks.map((d) => d.path)).toEqual([
      'C:\\ClusterStorage\\Volume1\\sql01-now\\sql01-0.vhdx',
      'C:\\ClusterStorage\\Volume1\\sql01-now\\sql01-1.vhdx',
    ]);
    expect(await ctx.host.vmState({ vmId: vm.id })).toEqual({ running: true });
    await assertNothingLeft(env!, ctx, ['sql01', 'sql01-now']);
  });

  it.each(['ignores-destination', 'loses-files'] as const)(
    'commit on a host whose storage move %s: the read-back fails loudly naming the VM and the value; the clone stays presented, the VM runs from it',
    async (fault) => {
      const ctx = await setUp();
      const s = await instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' });
      ctx.storage.faults.move = fault; // the job completes all the same
      const dest = 'C:\\ClusterStorage\\Volume1\\sql01-now';
      const commit = commitInstant(ctx.ie, { id: s.id, destinationDir: dest });
      await expect(commit).rejects.toMatchObject({
        code: 'vm_invalid_state',
        context: { vm: 'sql01-now', host: 'HV01', field: 'NewResourceSettingData.HostResource', path: dest },
      });
      await expect(commit).rejects.toThrow(fault === 'loses-files' ? /does not exist/ : /is not below/);
      await expect(commit).rejects.toThrow(/MigrationType 32769/);
      // nothing lost: the restore is ready again, its LUN online and presented, the VM running
      expect(await listInstant(ctx.ie)).toMatchObject([{ id: s.id, phase: 'ready' }]);
      expect(await readdir(join(env!.labDir, 'array', 'presentations'))).not.toEqual([]);
      expect(ctx.storage.disks.filter((d) => !d.isOffline)).toHaveLength(1);
      const vm = ctx.sim.vms.find((v) => v.name === 'sql01-now')!;
      expect(await ctx.host.vmState({ vmId: vm.id })).toEqual({ running: true });
      if (fault === 'ignores-destination') {
        // still on the clone: once the host honours the move, commit again finishes
        ctx.storage.faults.move = undefined;
        await commitInstant(ctx.ie, { id: s.id, destinationDir: dest });
        expect(vm.disks.map((d) => d.path)).toEqual([`${dest}\\sql01-0.vhdx`, `${dest}\\sql01-1.vhdx`]);
        await assertNothingLeft(env!, ctx, ['sql01', 'sql01-now']);
      }
    },
  );

  it('a host that reports no iSCSI or FC initiator is refused before anything is presented to a SAN array, naming the host; nothing is left', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    ctx.storage.ports.splice(0);
    await expect(instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' })).rejects.toMatchObject({
      code: 'unsupported',
      message: 'HV01 reports no iSCSI or Fibre Channel initiator (Get-InitiatorPort): provider "lab" cannot present the clone to it',
    });
    expect(ctx.presented).toEqual([]);
    expect(ctx.san.hosts).toEqual([]); // no host object made for it either
    await assertNothingLeft(env!, ctx, ['sql01'], true);
  });

  it('an initiator port read otherwise than documented (an iSCSI port whose node address is no iSCSI name) fails before anything is made', async () => {
    const ctx = await setUp();
    ctx.storage.ports.splice(0, 2, { ConnectionType: 2, NodeAddress: 'HV01', PortAddress: 'ISCSI ANY PORT' });
    await expect(instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' })).rejects.toMatchObject({
      code: 'unsupported',
      message: 'HV01 reports the iSCSI node address "HV01" (Get-InitiatorPort): hvsnap cannot present to it',
    });
    expect(ctx.presented).toEqual([]);
    await assertNothingLeft(env!, ctx, ['sql01'], true);
  });

  it("on a SAN array where no host object holds the host's initiators, the array makes one before the clone is presented, and it goes with the clone; one that holds them is used and never touched", async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    const args = { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' };
    const made = await instantRestore(ctx.ie, args);
    expect(ctx.san.hosts.map((x) => x.handle)).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    expect((await listInstant(ctx.ie))[0].nodeHost).toMatchObject({ spec: { name: 'HV01' }, handle: { id: 'host-1', created: true } });
    await discardInstant(ctx.ie, { id: made.id });
    expect(ctx.san.removed).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    expect(ctx.san.hosts).toEqual([]);
    await assertNothingLeft(env!, ctx, ['sql01']);

    // the host object the array knows HV01 by for its cluster storage
    ctx.san.hosts.push({ handle: { id: 'host-7', name: 'hv01-cluster', created: false }, initiators: ['iqn.1991-05.com.microsoft:hv01.contoso.local'] });
    const found = await instantRestore(ctx.ie, args);
    expect((await listInstant(ctx.ie))[0].nodeHost).toMatchObject({ handle: { id: 'host-7', created: false } });
    expect(ctx.san.ensured).toBe(1); // found (findHost): the array is not asked to make it
    await commitInstant(ctx.ie, { id: found.id, destinationDir: 'C:\\ClusterStorage\\Volume1\\sql01-now' });
    expect(ctx.san.removed).toHaveLength(1);
    expect(ctx.san.hosts.map((x) => x.handle.id)).toEqual(['host-7']);
    await assertNothingLeft(env!, ctx, ['sql01', 'sql01-now']);
  });

  it('two instant restores to one host share the host object the array made for the first: it goes with the last of them, whichever ends first', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    const args = { restorePointId: ctx.restorePointId, hostName: 'HV01', start: false };
    for (const firstEnds of ['the one that made it', 'the one that found it']) {
      const made = await instantRestore(ctx.ie, { ...args, name: 'sql01-a' });
      const found = await instantRestore(ctx.ie, { ...args, name: 'sql01-b' });
      const host = ctx.san.hosts[0].handle;
      expect(ctx.san.hosts).toHaveLength(1);
      expect(new Map((await listInstant(ctx.ie)).map((s) => [s.id, s.nodeHost?.handle]))).toEqual(
        new Map([
          [made.id, host],
          [found.id, { ...host, created: false }],
        ]),
      );
      const [first, last] = firstEnds === 'the one that made it' ? [made, found] : [found, made];
      await discardInstant(ctx.ie, { id: first.id });
      expect(
        ctx.san.hosts.map((x) => x.handle),
        `${firstEnds} ended first: the other clone is still mapped to the host`,
      ).toEqual([host]);
      await discardInstant(ctx.ie, { id: last.id });
      expect(ctx.san.hosts, `${firstEnds} ended first`).toEqual([]);
      expect(ctx.san.removed.at(-1)).toMatchObject({ id: host.id, name: host.name });
      // nothing is left beside the sessions either
      expect(await readdir(join(sessionDir(env!.repository.path), 'hosts'))).toEqual([]);
      await assertNothingLeft(env!, ctx, ['sql01']);
    }
  });

  it('a host object an instant restore made on one array is never removed by an instant restore on another that found a host with the same id', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    const args = { restorePointId: ctx.restorePointId, hostName: 'HV01', start: false };
    const made = await instantRestore(ctx.ie, { ...args, name: 'sql01-a' });
    // the same host id seen through another array's settings (a Pure host's id is its name, and another array can have one by that name)
    const other = { ...ctx.ie, arrayKey: 'array-2' };
    const found = await instantRestore(other, { ...args, name: 'sql01-b' });
    // and an instant restore is only ended through the configuration it was made with
    await expect(discardInstant(other, { id: made.id })).rejects.toMatchObject({ code: 'input_invalid', message: expect.stringContaining(made.id) });
    expect((await listInstant(ctx.ie)).map((s) => s.phase)).toEqual(['ready', 'ready']);
    await discardInstant(ctx.ie, { id: made.id });
    await discardInstant(other, { id: found.id });
    expect(ctx.san.hosts.map((x) => x.handle)).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    expect(ctx.san.removed).toEqual([]);
    expect(await readdir(join(sessionDir(env!.repository.path), 'hosts'))).toEqual([]);
  });

  it('on a SAN array, a process that dies once the array made the host object, before present: cleanup removes it; one found stays', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    const id = await dieAt(ctx, 'node-host');
    expect(ctx.san.hosts.map((x) => x.handle)).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    expect(await cleanupInstant(ctx.ie)).toEqual({ finished: [`${id}: undone`], failures: [] });
    expect(ctx.san.removed).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    expect(ctx.san.hosts).toEqual([]);
    await assertNothingLeft(env!, ctx, ['sql01'], true);

    ctx.san.hosts.push({ handle: { id: 'host-7', name: 'hv01-cluster', created: false }, initiators: ['iqn.1991-05.com.microsoft:hv01.contoso.local'] });
    const second = await dieAt(ctx, 'node-host');
    expect(await cleanupInstant(ctx.ie)).toEqual({ finished: [`${second}: undone`], failures: [] });
    expect(ctx.san.removed).toHaveLength(1);
    expect(ctx.san.hosts.map((x) => x.handle.id)).toEqual(['host-7']);
    await assertNothingLeft(env!, ctx, ['sql01'], true);
  });

  it('a host another instant restore found and has not presented to yet stays when the one that made it ends; that one removes it at its end', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    const made = await instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: false, name: 'sql01-a' });
    // the second dies between finding the host and presenting its clone: nothing of it is mapped, so the array would not refuse
    const found = await dieAt(ctx, 'node-host', (s) => s.id !== made.id);
    await discardInstant(ctx.ie, { id: made.id });
    expect(ctx.san.hosts.map((x) => x.handle.id)).toEqual(['host-1']);
    expect(await cleanupInstant(ctx.ie)).toEqual({ finished: [`${found}: undone`], failures: [] });
    expect(ctx.san.hosts).toEqual([]);
    expect(await readdir(join(sessionDir(env!.repository.path), 'hosts'))).toEqual([]);
    await assertNothingLeft(env!, ctx, ['sql01']);
  });

  it('a host object the array made whose record cannot be written (the disk refuses it) is removed by the failing instant restore itself', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    // the records' folder is a link to nowhere: the record cannot be written (and reads find no record)
    await mkdir(sessionDir(env!.repository.path), { recursive: true });
    await symlink(join(env!.labDir, 'gone'), join(sessionDir(env!.repository.path), 'hosts'));
    await expect(instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: false, name: 'sql01-a' })).rejects.toThrow(/hosts/);
    expect(ctx.san.removed).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    expect(ctx.san.hosts).toEqual([]);
    expect(await listInstant(ctx.ie)).toEqual([]);
  });

  it('a process killed after recording the host object it had the array make, before journaling it: cleanup removes that host', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    const id = await dieAt(ctx, 'node-host');
    // the session as it was before the answer was journaled
    const file = join(sessionDir(env!.repository.path), `${id}.json`);
    const session = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...session, nodeHost: { spec: session.nodeHost.spec, absentBefore: true } }));
    expect(await cleanupInstant(ctx.ie)).toEqual({ finished: [`${id}: undone`], failures: [] });
    expect(ctx.san.removed).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    expect(await readdir(join(sessionDir(env!.repository.path), 'hosts'))).toEqual([]);
    await assertNothingLeft(env!, ctx, ['sql01'], true);
  });

  it('on a SAN array, a process that dies after present: cleanup removes the host object the array made for the clone', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    const id = await dieAt(ctx, 'present');
    expect(ctx.san.hosts).toHaveLength(1);
    expect(await cleanupInstant(ctx.ie)).toEqual({ finished: [`${id}: undone`], failures: [] });
    expect(ctx.san.removed).toEqual([{ id: 'host-1', name: 'HV01', created: true }]);
    await assertNothingLeft(env!, ctx, ['sql01']);
  });

  it('a process that dies while the array makes the host object, before the answer: cleanup names the host for the operator and removes nothing it cannot prove its own', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    ctx.san.dieInEnsure = true;
    void instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' });
    await vi.waitFor(() => expect(ctx.san.hosts, 'the array was never asked for the host object').not.toEqual([]), { timeout: 5000, interval: 10 });
    const id = await markOwnerDead();
    expect(await cleanupInstant(ctx.ie)).toEqual({
      finished: [
        `${id}: undone; host HV01 (host-1) holds HV01's initiators on the array: none did when an instant restore began making one, and it ended before the array answered; remove it if nothing else is mapped to it and nobody keeps it on purpose`,
      ],
      failures: [],
    });
    expect(ctx.san.removed).toEqual([]);
    expect(ctx.san.hosts).toHaveLength(1);
    await assertNothingLeft(env!, ctx, ['sql01'], true);
  });

  it('a provider that cannot look hosts up: a process that dies while the array makes the host object leaves a note to check it, and removes nothing', async () => {
    const ctx = await setUp();
    ctx.san.transports = ['iscsi', 'fc'];
    ctx.san.dieInEnsure = true;
    // the same array through a driver without findHost
    const blind = Object.create(ctx.ie.provider) as Provider;
    Object.defineProperty(blind, 'findHost', { value: undefined });
    const ie = { ...ctx.ie, provider: blind };
    void instantRestore(ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' });
    await vi.waitFor(() => expect(ctx.san.hosts, 'the array was never asked for the host object').not.toEqual([]), { timeout: 5000, interval: 10 });
    const id = await markOwnerDead();
    expect(await cleanupInstant(ie)).toEqual({
      finished: [
        `${id}: undone; check host HV01 on the array: an instant restore ended while the array was making it, and provider "${blind.name}" cannot look hosts up; if hvsnap made it, remove it if nothing else is mapped to it and nobody keeps it on purpose`,
      ],
      failures: [],
    });
    expect(ctx.san.removed).toEqual([]);
    expect(ctx.san.hosts).toHaveLength(1);
    await assertNothingLeft(env!, ctx, ['sql01'], true);
  });

  it('a LUN that stays read-only after onlining fails the instant restore naming the LUN and the value; nothing is left', async () => {
    const ctx = await setUp();
    ctx.storage.faults.online = 'stays-read-only';
    await expect(instantRestore(ctx.ie, { restorePointId: ctx.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' })).rejects.toMatchObject({
      code: 'unsupported',
      message: expect.stringContaining('still reports IsReadOnly'),
      context: { host: 'HV01', field: 'IsReadOnly' },
    });
    await assertNothingLeft(env!, ctx, ['sql01']);
  });

  it.each(['present', 'online-disk', 'import', 'start'] as const)(
    'a process that dies after %s (where the crash tests kill it): cleanup stops and removes the VM, takes the LUN offline and unpresents it',
    async (step) => {
      const ctx = await setUp();
      const id = await dieAt(ctx, step);
      expect(await readdir(join(env!.labDir, 'array', 'presentations'))).not.toEqual([]);
      expect(ctx.storage.disks.filter((d) => !d.isOffline)).toHaveLength(step === 'present' ? 0 : 1);
      expect(ctx.sim.vms.map((v) => v.name).sort()).toEqual(step === 'import' || step === 'start' ? ['sql01', 'sql01-now'] : ['sql01']);
      if (step === 'start') expect(ctx.running.get(ctx.sim.vms.find((v) => v.name === 'sql01-now')!.id)).toBe(true);
      const r = await cleanupInstant(ctx.ie);
      expect(r).toEqual({ finished: [`${id}: undone`], failures: [] });
      await assertNothingLeft(env!, ctx, ['sql01']);
      expect(ctx.sim.vms[0].disks[0].path).toMatch(/^C:\\ClusterStorage\\Volume1\\/); // the original is untouched
    },
  );
});

/**
 * The child of the real-kill test: the same simulated host as setUp (the VM's id passed in), the
 * lab array and the repository on disk; it runs an instant restore until the runner's kill hook
 * SIGKILLs it. Only the kill after `present` is reproduced: up to there the simulated host holds
 * nothing the child did (a presentation lives in the array's state on disk), so the parent's
 * simulated host is the host as the killed process left it.
 */
const CHILD = `
import { SimulatedHost } from './test/hyperv/simulated-host.js';
import { addInstantStorage } from './test/hyperv/simulated-instant.js';
import { WmiHypervisor } from './src/hyperv/wmi-hypervisor.js';
import { WmiInstantHost } from './src/hyperv/wmi-instant-host.js';
import { instantRestore } from './src/restore/instant/instant-restore.js';
import { openRepository } from './src/repository/index.js';
import { labProvider } from './providers/lab/index.js';
import { silentLogger } from './src/core/logger.js';
const a = JSON.parse(process.argv[2]);
const sim = new SimulatedHost('HV01').addVolume({ root: 'C:\\\\ClusterStorage\\\\Volume1' });
sim.addVm('sql01', { disks: 2, id: a.vmId });
addInstantStorage(sim, a.stateDir);
const provider = await labProvider.create(labProvider.configSchema.parse({ volumesDir: a.volumesDir, stateDir: a.stateDir }), { logger: silentLogger });
const env = {
  repository: await openRepository({ path: a.repo }),
  provider,
  hypervisor: new WmiHypervisor({ nodes: [{ name: 'HV01', shell: sim.shell }] }),
  hostFor: () => new WmiInstantHost({ name: 'HV01', shell: sim.shell }),
};
await instantRestore(env, { restorePointId: a.restorePointId, hostName: 'HV01', start: true, name: 'sql01-now' });
`;

describe('instant restore on the simulated WMI host, killed for real', () => {
  let build: Awaited<ReturnType<typeof buildForChild>>;
  beforeAll(async () => {
    build = await buildForChild(
      [
        'test/hyperv/simulated-instant.ts',
        'test/hyperv/simulated-host.ts',
        'src/hyperv/wmi-hypervisor.ts',
        'src/hyperv/wmi-instant-host.ts',
        'src/restore/instant/instant-restore.ts',
        'src/repository/index.ts',
        'providers/lab/index.ts',
      ],
      { 'instant-child.mjs': CHILD },
    );
    // the .ps1 files are not compiled: the child's WMI code finds them below its package root
    await symlink(join(import.meta.dirname, '../../src/hyperv/scripts'), join(build.dir, 'src/hyperv/scripts'));
  }, 180_000);
  afterAll(async () => build?.remove());

  it('a process SIGKILLed after present leaves a journal that cleanup finishes against the simulated host', async () => {
    const ctx = await setUp();
    const run = await runKilledScript(
      join(build.dir, 'instant-child.mjs'),
      [
        JSON.stringify({
          vmId: ctx.source.id,
          repo: env!.repository.path,
          volumesDir: join(env!.labDir, 'volumes'),
          stateDir: join(env!.labDir, 'array'),
          restorePointId: ctx.restorePointId,
        }),
      ],
      'present',
    );
    expect(run.signal, run.stderr).toBe('SIGKILL');
    expect(await readdir(join(env!.labDir, 'array', 'presentations'))).toHaveLength(1);
    const sessions = await listInstant(ctx.ie);
    expect(sessions).toMatchObject([{ phase: 'restoring', ownerAlive: false, luns: [] }]);
    const r = await cleanupInstant(ctx.ie);
    expect(r).toEqual({ finished: [`${sessions[0].id}: undone`], failures: [] });
    await assertNothingLeft(env!, ctx, ['sql01']);
  }, 120_000);
});
