import { it, expect, onTestFinished } from 'vitest';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/backup-job.js';
import { runBatch, batchSpecSchema } from '../../src/backup/batch.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('a batch after a restore beside the original (same name, new id)', async () => {
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const r = await runBackup(env);
  const rp = r.vms[0].restorePointId!;
  await restoreVm({ repository: env.repository, restorePointId: rp, targetDir: join(env.labDir, 'volumes', 'Volume1', 'Restore'),
    import: { hypervisor: env.hypervisor, hostDir: 'C:\\ClusterStorage\\Volume1\\Restore', newId: true } });
  const b = await runBatch(env, batchSpecSchema.parse({})).catch((e) => e);
  expect(b).not.toBeInstanceOf(Error);
});
