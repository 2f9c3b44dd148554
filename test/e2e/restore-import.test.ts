import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { labDiskDigest } from '../../src/lab/index.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe('restore and import', () => {
  it('imports beside the original with a new VM id, and refuses a same-id import while the original exists', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const report = await runBackup(env);
    const [vm] = await env.hypervisor.listVms({});
    const digest = await labDiskDigest(env.labDir, vm.name, vm.disks[0].id);
    const targetDir = join(env.labDir, 'volumes', 'Volume1', 'Restore');
    const r = await restoreVm({
      repository: env.repository,
      restorePointId: report.vms[0].restorePointId!,
      targetDir,
      import: { hypervisor: env.hypervisor, hostDir: 'C:\\ClusterStorage\\Volume1\\Restore', newId: true, name: `${vm.name}-restored` },
    });
    expect(r.imported).toBeDefined();
    expect(r.imported!.id).not.toBe(vm.id);
    expect(r.imported!.name).toBe(`${vm.name}-restored`);
    expect(r.imported!.disks[0].path).toBe(`C:\\ClusterStorage\\Volume1\\Restore\\${vm.name}-disk0.vhdx`);
    expect(await labDiskDigest(env.labDir, r.imported!.id, r.imported!.disks[0].id)).toBe(digest);
    // the restored VM is a VM like any other: it backs up
    const again = await runBackup(env, { vms: [`${vm.name}-restored`] });
    expect(again.vms[0].error).toBeUndefined();
    expect(again.ok).toBe(true);

    await expect(
      restoreVm({
        repository: env.repository,
        restorePointId: report.vms[0].restorePointId!,
        targetDir: join(env.labDir, 'volumes', 'Volume1', 'Restore2'),
        import: { hypervisor: env.hypervisor, hostDir: 'C:\\ClusterStorage\\Volume1\\Restore2', newId: false },
      }),
    ).rejects.toMatchObject({ code: 'already_exists' });
    // the failed import took its restored disks with it: nothing half-restored stays
    expect(await readdir(join(env.labDir, 'volumes', 'Volume1', 'Restore2'))).toEqual([]);
    // and a restore never overwrites: the disk restored before is refused as a target, untouched
    const before = await labDiskDigest(env.labDir, r.imported!.id, r.imported!.disks[0].id);
    await expect(restoreVm({ repository: env.repository, restorePointId: report.vms[0].restorePointId!, targetDir })).rejects.toMatchObject({
      code: 'already_exists',
    });
    expect(await labDiskDigest(env.labDir, r.imported!.id, r.imported!.disks[0].id)).toBe(before);
  });
});

describe('restore from a damaged repository', () => {
  it('fails with integrity_failed naming the chunk, and leaves no disk behind', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 4 << 20 });
    const report = await runBackup(env);
    const rp = report.vms[0].restorePointId!;
    const index = await env.repository.readIndex(rp, (await env.repository.getRestorePoint(rp)).disks[0].diskId);
    const victim = index.chunks.find((c) => c !== null)!;
    const at = env.repository.chunks.locate(victim)!;
    const file = env.repository.chunks.packPath(at.packName);
    const data = await readFile(file);
    data[at.offset + 100] ^= 0xff; // a bit rot inside the chunk's blob
    await writeFile(file, data);
    const target = join(env.dir, 'restored');
    await expect(restoreVm({ repository: env.repository, restorePointId: rp, targetDir: target })).rejects.toMatchObject({ code: 'integrity_failed' });
    expect(await readdir(target)).toEqual([]);
  });
});
