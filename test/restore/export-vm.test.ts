import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labPinFrozen } from '../../src/lab/index.js';
import { exportVm } from '../../src/restore/export-vm.js';
import { mountRestorePoint } from '../../src/restore/mount/mount-restore-point.js';
import { repositorySource } from '../../src/restore/restore-point-source.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { describeWith } from '../helpers/requirements.js';
import { restorePointDiskDigest } from '../helpers/restore-point-digest.js';

const run = promisify(execFile);
let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** The disk paths the (lab) exported configuration names, by disk id. */
async function configDiskPaths(vmcx: string): Promise<Record<string, string>> {
  const parsed = JSON.parse(await readFile(vmcx, 'utf8')) as { disks: Array<{ id: string; path: string }> };
  return Object.fromEntries(parsed.disks.map((d) => [d.id, d.path]));
}

describeWith('hvsnap export: Hyper-V export layout', { tools: ['qemu-img'] }, () => {
  it('writes Virtual Machines/ with the stored configuration byte for byte and Virtual Hard Disks/ under the names the configuration uses; disks pass qemu-img check and equal the restore point', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, disksPerVm: 2, diskSizeBytes: 8 << 20, dataBytes: 3 << 20 });
    const report = await runBackup(env);
    const rp = report.vms[0].restorePointId!;
    const manifest = await env.repository.getRestorePoint(rp);
    const out = join(env.dir, 'export');
    const r = await exportVm({ repository: env.repository, restorePointId: rp, to: out });

    expect(r.dir).toBe(join(out, manifest.vm.name));
    expect((await readdir(r.dir)).sort()).toEqual(['Virtual Hard Disks', 'Virtual Machines']);
    const vmcxName = `${manifest.vm.id.toUpperCase()}.vmcx`;
    expect(await readdir(join(r.dir, 'Virtual Machines'))).toEqual([vmcxName]);
    // never rewritten: the very bytes the host exported
    expect(
      (await readFile(join(r.dir, 'Virtual Machines', vmcxName))).equals(await env.repository.readConfigFile(rp, `config/Virtual Machines/${vmcxName}`)),
    ).toBe(true);

    const paths = await configDiskPaths(join(r.dir, 'Virtual Machines', vmcxName));
    const expectedNames = manifest.disks.map((d) => paths[d.diskId].split('\\').pop()!).sort();
    expect((await readdir(join(r.dir, 'Virtual Hard Disks'))).sort()).toEqual(expectedNames);
    for (const d of manifest.disks) {
      const file = join(r.dir, 'Virtual Hard Disks', paths[d.diskId].split('\\').pop()!);
      await run('qemu-img', ['check', '-f', 'vhdx', file]);
      expect(await qemuRawDigest(file)).toBe(await restorePointDiskDigest(env.repository, rp, d.diskId));
      // as an Export-VM copy: the same virtual disk id
      const img = await openVhdx(file);
      expect(img.virtualDiskId.toLowerCase()).toBe(d.virtualDiskId.toLowerCase());
      await img.close();
    }
  });

  it('exports a snapshot-only restore point from the kept array snapshot, and refuses a non-empty VM folder leaving it untouched', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const frozen = new Map<string, Record<string, string>>();
    const pin = async (cps: Checkpoint[]) => {
      for (const cp of cps) frozen.set(cp.vmName, await labPinFrozen(env!.labDir, cp, join(env!.dir, 'frozen')));
    };
    const report = await runBackup(env, { policy: { mode: 'snapshot-only' }, hooks: { onCheckpoints: pin } });
    const rp = report.vms[0].restorePointId!;
    const manifest = await env.repository.getRestorePoint(rp);
    const out = join(env.dir, 'export');
    const r = await exportVm({
      repository: env.repository,
      restorePointId: rp,
      to: out,
      snapshotAccess: { provider: env.provider, proxy: env.proxy, proxyHost: env.proxyHost },
    });
    const disk = manifest.snapshotDisks![0];
    const file = join(r.dir, 'Virtual Hard Disks', disk.sourcePath.split('\\').pop()!);
    expect(r.disks.map((d) => d.target)).toEqual([file]);
    await run('qemu-img', ['check', '-f', 'vhdx', file]);
    expect(await qemuRawDigest(file)).toBe(await qemuRawDigest(frozen.get(manifest.vm.name)![disk.diskId]));
    expect(await readdir(join(r.dir, 'Virtual Machines'))).toEqual([`${manifest.vm.id.toUpperCase()}.vmcx`]);

    // nothing to serve from the repository: mount says where the disks are instead
    await expect(mountRestorePoint({ source: repositorySource(env.repository), restorePointId: rp, dir: join(env.dir, 'mnt') })).rejects.toMatchObject({
      code: 'unsupported',
      message: expect.stringContaining('snapshot-only'),
    });

    const before = (await readdir(r.dir, { recursive: true })).sort();
    await expect(
      exportVm({
        repository: env.repository,
        restorePointId: rp,
        to: out,
        snapshotAccess: { provider: env.provider, proxy: env.proxy, proxyHost: env.proxyHost },
      }),
    ).rejects.toMatchObject({ code: 'already_exists' });
    expect((await readdir(r.dir, { recursive: true })).sort()).toEqual(before);
  });
});
