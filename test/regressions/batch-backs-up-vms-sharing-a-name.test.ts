import { it, expect, onTestFinished } from 'vitest';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/backup-job.js';
import { runBatch, batchSpecSchema } from '../../src/backup/batch.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('a batch after a restore beside the original backs up both VMs named alike, each under its own id', async () => {
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const r = await runBackup(env);
  expect(r.ok).toBe(true);
  const original = r.vms[0];
  const restored = await restoreVm({
    repository: env.repository,
    restorePointId: original.restorePointId!,
    targetDir: join(env.labDir, 'volumes', 'Volume1', 'Restore'),
    import: { hypervisor: env.hypervisor, hostDir: 'C:\\ClusterStorage\\Volume1\\Restore', newId: true },
  });
  const copy = restored.imported!;
  expect(copy.name).toBe(original.vm);
  expect(copy.id).not.toBe(original.vmId);

  const b = await runBatch(env, batchSpecSchema.parse({}));

  expect(b.ok).toBe(true);
  const sameName = b.vms.filter((v) => v.vm === original.vm);
  expect(sameName.map((v) => v.vmId).sort()).toEqual([original.vmId, copy.id].sort());
  expect(sameName.every((v) => v.status === 'ok' && v.restorePointId)).toBe(true);
  for (const v of sameName) expect((await env.repository.getRestorePoint(v.restorePointId!)).vm.id).toBe(v.vmId);
});
