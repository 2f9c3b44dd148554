import { it, expect, onTestFinished } from 'vitest';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/backup-job.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { updateLabState } from '../../src/lab/index.js';
import { vhdxSha256 } from '../../src/vhdx/index.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('two disks of one VM with the same file name in different folders are restored to two files, each with its own content', async () => {
  const env = await makeLabEnv({ vms: 1, volumes: 1, disksPerVm: 2, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
  onTestFinished(() => env.cleanup());
  const sources = await updateLabState(env.labDir, async (s) => {
    const d = s.vms[0].disks[1];
    const vol = s.volumes[0];
    await mkdir(join(vol.dir, 'VMs', 'vm-01', 'Data'), { recursive: true });
    const to = 'VMs/vm-01/Data/vm-01-disk0.vhdx';
    await rename(join(vol.dir, ...d.relativePath.split('/')), join(vol.dir, ...to.split('/')));
    d.relativePath = to;
    return s.vms[0].disks.map((disk) => ({ diskId: disk.id, file: join(vol.dir, ...disk.relativePath.split('/')) }));
  });
  // the two source files share a name: vm-01-disk0.vhdx
  expect(new Set(sources.map((x) => x.file.split('/').pop())).size).toBe(1);
  const expected = Object.fromEntries(await Promise.all(sources.map(async (x) => [x.diskId, await vhdxSha256(x.file)] as const)));
  expect(new Set(Object.values(expected)).size).toBe(2);

  const r = await runBackup(env);
  expect(r.ok).toBe(true);
  const out = await restoreVm({ repository: env.repository, restorePointId: r.vms[0].restorePointId!, targetDir: join(env.dir, 'out') });
  expect(new Set(out.disks.map((d) => d.target)).size).toBe(2);
  for (const d of out.disks) expect(await vhdxSha256(d.target), `${d.diskId} restored to ${d.target}`).toBe(expected[d.diskId]);
});
