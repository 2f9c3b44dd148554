import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { labDiskFile, updateLabState } from '../../src/lab/index.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { buildDifferencingChain, buildVhdxWithPendingLog } from '../helpers/vhdx-fixtures.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { describeWith } from '../helpers/requirements.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Makes the VM's disk the given VHDX (already in the VM's folder), as the host would report it. */
async function useDisk(e: LabEnv, vm: string, file: string) {
  const img = await openVhdx(file);
  const ids = { virtualDiskId: img.virtualDiskId, sizeBytes: img.virtualSize };
  await img.close();
  await updateLabState(e.labDir, (s) => {
    const disk = s.vms.find((v) => v.name === vm)!.disks[0];
    const volume = s.volumes.find((v) => v.name === disk.volume)!;
    Object.assign(disk, ids, { relativePath: relative(volume.dir, file).split('\\').join('/') });
  });
}

describeWith('the backup reads VHDX files as Hyper-V left them in a crash-consistent snapshot', { tools: ['qemu-img'] }, () => {
  it('a disk with a pending log: the log is replayed in memory, never written, and the restore has the replayed data', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 2 << 20 });
    const [vm] = await env.hypervisor.listVms({});
    const file = await labDiskFile(env.labDir, vm.name, vm.disks[0].id);
    await rm(file);
    const built = await buildVhdxWithPendingLog(file, { seed: 7 });
    expect(sha256(built.expected)).not.toBe(sha256(built.stale)); // the log matters
    await useDisk(env, vm.name, file);
    const fileBefore = sha256(await readFile(file));

    const report = await runBackup(env);
    expect(report.ok).toBe(true);
    const r = await restoreVm({
      repository: env.repository,
      restorePointId: report.vms[0].restorePointId!,
      targetDir: join(env.dir, 'restored'),
      verify: true,
    });
    expect(r.disks[0].sha256).toBe(sha256(built.expected));
    expect(await qemuRawDigest(r.disks[0].target)).toBe(sha256(built.expected));
    // the source VHDX (and so the snapshot sharing it) was not written by the read
    expect(sha256(await readFile(file))).toBe(fileBefore);
  });

  it('a differencing disk (a VM with user checkpoints): the chain is read through, with its parents found in the snapshot', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 2 << 20 });
    const [vm] = await env.hypervisor.listVms({});
    const dir = dirname(await labDiskFile(env.labDir, vm.name, vm.disks[0].id));
    await mkdir(join(dir, 'chain'));
    const chain = await buildDifferencingChain(join(dir, 'chain'), { depth: 2, seed: 3 });
    await useDisk(env, vm.name, chain.top);

    const full = await runBackup(env);
    expect(full.ok).toBe(true);
    const r = await restoreVm({ repository: env.repository, restorePointId: full.vms[0].restorePointId!, targetDir: join(env.dir, 'restored'), verify: true });
    expect(r.disks[0].sha256).toBe(sha256(chain.expected));
    expect(await qemuRawDigest(r.disks[0].target)).toBe(sha256(chain.expected));
  });
});
