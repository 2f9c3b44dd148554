import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labDiskFile, labPinFrozen, labWrite, loadLabState } from '../../src/lab/index.js';
import { LabInstantHost } from '../../src/lab/lab-instant-host.js';
import { cleanupInstant, commitInstant, discardInstant, instantRestore, listInstant, type InstantEnv } from '../../src/restore/instant/instant-restore.js';
import { sessionDir } from '../../src/restore/instant/instant-sessions.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { describeWith } from '../helpers/requirements.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** A snapshot-only restore point of vm-01 and the digest of each disk as its checkpoint froze it. */
async function snapshotOnlyPoint(e: LabEnv) {
  const frozen: Record<string, string> = {};
  const pin = async (cps: Checkpoint[]) => {
    for (const cp of cps)
      for (const [disk, file] of Object.entries(await labPinFrozen(e.labDir, cp, join(e.dir, 'frozen')))) frozen[disk] = await qemuRawDigest(file);
  };
  const report = await runBackup(e, { policy: { mode: 'snapshot-only' }, hooks: { onCheckpoints: pin } });
  expect(report.ok).toBe(true);
  return { rp: report.vms[0].restorePointId!, frozen };
}

/** Nothing of an instant restore is left: no journal, no presentation, no clone volume on the host, only the original VMs. */
async function assertNothingLeft(e: LabEnv, ie: InstantEnv, vmIds: string[]) {
  expect(await listInstant(ie)).toEqual([]);
  expect(await readdir(join(e.labDir, 'array', 'presentations')).catch(() => [])).toEqual([]);
  expect(await readdir(join(e.labDir, 'array', 'clones')).catch(() => [])).toEqual([]);
  const state = await loadLabState(e.labDir);
  expect(state.volumes.map((v) => v.name)).toEqual(['Volume1']);
  expect(state.vms.map((v) => v.id).sort()).toEqual([...vmIds].sort());
}

describeWith('instant restore from a kept array snapshot (lab)', { tools: ['qemu-img'] }, () => {
  it('runs the VM from a clone, byte-identical, beside the untouched original; the snapshot stays intact; discard leaves nothing', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, disksPerVm: 2, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    const { rp, frozen } = await snapshotOnlyPoint(env);
    const host = new LabInstantHost(env.labDir);
    const ie: InstantEnv = { ...env, hostFor: () => host };
    const [original] = await env.hypervisor.listVms({});
    await labWrite({ dir: env.labDir, vm: original.name, count: 4, seed: 3 }); // the original moves on
    const originalDisk = await qemuRawDigest(await labDiskFile(env.labDir, original.id, original.disks[0].id));

    const s = await instantRestore(ie, { restorePointId: rp, hostName: 'hv-node-1', start: true });
    expect(s.phase).toBe('ready');
    expect(s.vm.newId).toBe(true); // the original exists: a new id by default
    const [vm] = await env.hypervisor.listVms({ names: [s.vm.id!] });
    expect(vm.id).not.toBe(original.id);
    expect(await host.vmState({ vmId: vm.id })).toEqual({ running: true });
    expect(vm.disks).toHaveLength(2);
    for (const d of vm.disks) {
      expect(d.path.startsWith(`${s.luns[0].volumeRoot}\\`)).toBe(true); // on the clone
      const sourceDiskId = d.id.replace(vm.id.toUpperCase(), original.id.toUpperCase());
      expect(await qemuRawDigest(await labDiskFile(env.labDir, vm.id, d.id))).toBe(frozen[sourceDiskId]);
    }
    // the restored VM writes to its clone: neither the original nor the kept snapshot sees it
    await labWrite({ dir: env.labDir, vm: vm.name, count: 6, seed: 9 });
    expect(await qemuRawDigest(await labDiskFile(env.labDir, original.id, original.disks[0].id))).toBe(originalDisk);
    const fromSnapshot = await restoreVm({
      repository: env.repository,
      restorePointId: rp,
      targetDir: join(env.dir, 'check'),
      snapshotAccess: { provider: env.provider, proxy: env.proxy, proxyHost: env.proxyHost },
    });
    for (const d of fromSnapshot.disks) expect(await qemuRawDigest(d.target)).toBe(frozen[d.diskId]);

    await discardInstant(ie, { id: s.id });
    await assertNothingLeft(env, ie, [original.id]);
  });

  it('commit moves the running VM to production storage, then releases the clone', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    const { rp, frozen } = await snapshotOnlyPoint(env);
    const host = new LabInstantHost(env.labDir);
    const ie: InstantEnv = { ...env, hostFor: () => host };
    const [original] = await env.hypervisor.listVms({});
    const s = await instantRestore(ie, { restorePointId: rp, hostName: 'hv-node-1', start: true, name: 'restored-01' });
    await commitInstant(ie, { id: s.id, destinationDir: 'C:\\ClusterStorage\\Volume1\\restored-01' });
    const [vm] = await env.hypervisor.listVms({ names: ['restored-01'] });
    expect(vm.disks[0].path).toBe('C:\\ClusterStorage\\Volume1\\restored-01\\vm-01-disk0.vhdx');
    expect(await qemuRawDigest(await labDiskFile(env.labDir, vm.id, vm.disks[0].id))).toBe(frozen[original.disks[0].id]);
    expect(await host.vmState({ vmId: vm.id })).toEqual({ running: true }); // moved while it ran
    await assertNothingLeft(env, ie, [original.id, vm.id]);
  });

  it('a commit whose storage move reports success but leaves the disks on the clone is not believed: the clone stays, the restore is ready again', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    const { rp } = await snapshotOnlyPoint(env);
    const host = new LabInstantHost(env.labDir);
    const ie: InstantEnv = { ...env, hostFor: () => host };
    const [original] = await env.hypervisor.listVms({});
    const s = await instantRestore(ie, { restorePointId: rp, hostName: 'hv-node-1', start: true, name: 'restored-01' });
    const idle = Object.create(host) as LabInstantHost;
    idle.moveVmStorage = async () => undefined; // answers like a move that worked, moves nothing
    const destinationDir = 'C:\\ClusterStorage\\Volume1\\restored-01';
    await expect(commitInstant({ ...ie, hostFor: () => idle }, { id: s.id, destinationDir })).rejects.toMatchObject({
      code: 'vm_invalid_state',
      context: { vm: 'restored-01', path: destinationDir },
    });
    expect(await listInstant(ie)).toMatchObject([{ id: s.id, phase: 'ready' }]);
    expect(await readdir(join(env.labDir, 'array', 'presentations'))).toHaveLength(1);
    expect((await loadLabState(env.labDir)).volumes).toHaveLength(2); // the clone is still a volume of the host
    expect(await host.vmState({ vmId: s.vm.id! })).toEqual({ running: true });
    await commitInstant(ie, { id: s.id, destinationDir }); // a host that moves: done
    await assertNothingLeft(env, ie, [original.id, s.vm.id!]);
  });

  it('a process that dies after the presentation leaves a journal; cleanup removes the presentation and the journal', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    const { rp } = await snapshotOnlyPoint(env);
    const host = new LabInstantHost(env.labDir);
    const ie: InstantEnv = { ...env, hostFor: () => host };
    const [original] = await env.hypervisor.listVms({});
    let presented!: () => void;
    const reached = new Promise<void>((ok) => (presented = ok));
    // the job stops for good right after presenting (as if killed there); it never touches anything again
    void instantRestore(ie, {
      restorePointId: rp,
      hostName: 'hv-node-1',
      afterStep: (step) => (step === 'present' ? (presented(), new Promise<void>(() => undefined)) : Promise.resolve()),
    });
    await reached;
    expect(await readdir(join(env.labDir, 'array', 'presentations'))).toHaveLength(1);
    const [journal] = await readdir(sessionDir(env.repository.path));
    const file = join(sessionDir(env.repository.path), journal);
    const record = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...record, owner: { ...record.owner, pid: spawnSync('true').pid } })); // its process is gone
    expect((await listInstant(ie))[0]).toMatchObject({ phase: 'restoring', ownerAlive: false });
    const r = await cleanupInstant(ie);
    expect(r.failures).toEqual([]);
    expect(r.finished).toEqual([`${record.id}: undone`]);
    await assertNothingLeft(env, ie, [original.id]);
  });
});
