import { it, expect, onTestFinished } from 'vitest';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/backup-job.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { updateLabState } from '../../src/lab/index.js';
import { vhdxDigest } from '../../src/demo/run-demo.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('two disks of one VM with the same file name in different folders', async () => {
  const env = await makeLabEnv({ vms: 1, volumes: 1, disksPerVm: 2, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
  onTestFinished(() => env.cleanup());
  await updateLabState(env.labDir, async (s) => {
    const d = s.vms[0].disks[1];
    const vol = s.volumes[0];
    await mkdir(join(vol.dir, 'VMs', 'vm-01', 'Data'), { recursive: true });
    const to = 'VMs/vm-01/Data/vm-01-disk0.vhdx';
    await rename(join(vol.dir, ...d.relativePath.split('/')), join(vol.dir, ...to.split('/')));
    d.relativePath = to;
  });
  const r = await runBackup(env);
  expect(r.ok).toBe(true);
  const out = await restoreVm({ repository: env.repository, restorePointId: r.vms[0].restorePointId!, targetDir: join(env.dir, 'out') });
  const onDisk = await Promise.all(out.disks.map((d) => vhdxDigest(d.target)));
  expect(new Set(out.disks.map((d) => d.target)).size).toBe(2);
});
