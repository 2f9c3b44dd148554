import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { cleanupLeftovers } from '../../src/backup/cleanup.js';
import { WmiHypervisor } from '../../src/hyperv/wmi-hypervisor.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { SimulatedHost } from '../hyperv/simulated-host.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe('restore --import --new-id onto a Hyper-V host whose planned VM lacks a disk slot', () => {
  it('refuses, removes the planned VM and the restored disks, and touches no VM', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, disksPerVm: 2, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
    const report = await runBackup(env);
    expect(report.ok).toBe(true);
    const host = new SimulatedHost('HV01').addVolume({ root: 'D:\\Restore' });
    const existing = host.addVm('prod01', { disks: 2 });
    host.plannedSlotsDropped = 1;
    const before = JSON.stringify(host.vms);
    const labBefore = JSON.stringify(await env.hypervisor.listVms({}));
    const targetDir = join(env.dir, 'restored');
    const hv = new WmiHypervisor({ nodes: [{ name: 'HV01', shell: host.shell }] });
    const e = await restoreVm({
      repository: env.repository,
      restorePointId: report.vms[0].restorePointId!,
      targetDir,
      import: { hypervisor: hv, hostDir: 'D:\\Restore', newId: true, name: 'restored' },
    }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'input_invalid', context: { field: 'diskPaths' } });
    expect((e as Error).message).toMatch(/disks without a slot: Microsoft:.*\\0\\1\\D/);
    // no VM was created, changed or removed, on the host or in the lab; the planned VM is gone
    expect(JSON.stringify(host.vms)).toBe(before);
    expect(host.vms.map((v) => v.id)).toEqual([existing.id]);
    expect(host.destroyedPlanned).toBe(1);
    expect(host.shell.callsTo('import-vm.ps1')).toHaveLength(1);
    expect(JSON.stringify(await env.hypervisor.listVms({}))).toBe(labBefore);
    // and nothing half-restored stays
    expect(await readdir(targetDir).catch(() => [])).toEqual([]);
  });
});

describe('hvsnap cleanup with a cluster node that does not answer', () => {
  it('removes the leftovers of the nodes that answer and reports the silent node as a failure', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 0 });
    const a = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    const b = new SimulatedHost('HV02').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    const web = a.addVm('web01');
    b.addVm('sql01');
    const hv = new WmiHypervisor({
      nodes: [
        { name: 'HV01', shell: a.shell },
        { name: 'HV02', shell: b.shell },
      ],
    });
    await hv.createCheckpoint({ vmId: web.id, name: 'hvsnap:dead-job', consistency: 'crash' });
    b.down = true;
    const report = await cleanupLeftovers({ ...env, hypervisor: hv });
    expect(a.snapshots).toEqual([]);
    expect(report.checkpoints).toEqual(['web01: hvsnap:dead-job']);
    expect(report.failures.map((f) => [f.what, f.error.code])).toEqual([['leftover checkpoints on HV02', 'transport_failed']]);
  });
});
