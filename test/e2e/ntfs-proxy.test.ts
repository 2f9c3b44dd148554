import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import type { Checkpoint } from '../../src/core/types.js';
import { silentLogger } from '../../src/core/logger.js';
import { labPinFrozen, labWrite } from '../../src/lab/index.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { labProvider } from '../../providers/lab/index.js';
import { createLinuxProxy } from '../../proxy/linux/index.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { describeWith } from '../helpers/requirements.js';
import { ntfsNeeds } from '../proxy/ntfs-image.js';

const title = 'offload through the real Linux proxy: NTFS image, loop device, ntfs-3g read-only';

describeWith(title, { ...ntfsNeeds, tools: [...ntfsNeeds.tools!, 'findmnt', 'qemu-img'] }, () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await makeLabEnv({ vms: 3, volumes: 2, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    // the array presents a copy of each snapshotted volume as a GPT disk image holding an NTFS volume
    env.provider = await labProvider.create(
      labProvider.configSchema.parse({ volumesDir: join(env.labDir, 'volumes'), stateDir: join(env.labDir, 'array'), presentAs: 'ntfs-image' }),
      { logger: silentLogger },
    );
    // the proxy binds each image to a read-only loop device, reads its GPT and mounts NTFS read-only with ntfs-3g
    // no discovery setting: the proxy finds each LUN from the presentation's target alone (a local image here)
    env.proxy = createLinuxProxy({ mountRoot: join(env.dir, 'mnt'), stateDir: join(env.dir, 'proxy-state') }, { logger: silentLogger });
  });
  afterAll(async () => env?.cleanup());

  it('backs up full and incremental from the mounted snapshot; restores are byte-identical; nothing stays mounted', async () => {
    const frozen = new Map<string, Record<string, string>>();
    const pin = async (cps: Checkpoint[]) => {
      for (const cp of cps) frozen.set(`${cp.vmName}@${cp.name}`, await labPinFrozen(env.labDir, cp, join(env.dir, 'frozen')));
    };
    let mountedDuringCopy = 0;
    const hooks = {
      onCheckpoints: pin,
      beforeStep: (step: string) => {
        if (step === 'copy')
          mountedDuringCopy = execFileSync('findmnt', ['-rn', '-t', 'fuseblk', '-o', 'TARGET'], { encoding: 'utf8' })
            .split('\n')
            .filter((l) => l.startsWith(join(env.dir, 'mnt'))).length;
      },
    };
    const full = await runBackup(env, { hooks });
    expect(full.ok).toBe(true);
    expect(mountedDuringCopy).toBe(1); // the set's volume, mounted by ntfs-3g while the data mover read it
    await labWrite({ dir: env.labDir, vm: 'vm-01', count: 8, seed: 11 });
    const incr = await runBackup(env, { hooks });
    expect(incr.ok).toBe(true);
    const vm1 = incr.vms.find((v) => v.vm === 'vm-01')!;
    expect(vm1.disks[0].mode).toBe('incremental');
    expect(vm1.bytesRead).toBeGreaterThan(0);
    expect(vm1.bytesRead).toBeLessThanOrEqual(8 * (1 << 20));

    for (const report of [full, incr]) {
      for (const v of report.vms) {
        const r = await restoreVm({ repository: env.repository, restorePointId: v.restorePointId!, targetDir: join(env.dir, 'restored', v.restorePointId!) });
        const pinned = frozen.get(`${v.vm}@hvsnap:${report.jobId}`)!;
        for (const d of r.disks) expect(await qemuRawDigest(d.target)).toBe(await qemuRawDigest(pinned[d.diskId]));
      }
    }
    // detached and unpresented: no mount, no loop device on a presentation image, no image left
    const mounts = execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
    expect(mounts).not.toContain(join(env.dir, 'mnt'));
    expect(execFileSync('losetup', ['-n', '-O', 'BACK-FILE'], { encoding: 'utf8' })).not.toContain(env.labDir);
    expect(await readdir(join(env.labDir, 'array', 'presentations'))).toEqual([]);
  });
});
