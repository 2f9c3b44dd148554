import { it, expect } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { makeLabEnv } from '../helpers/lab-env.js';
import { labWrite } from '../../src/lab/index.js';

it('a stale hvsnap checkpoint from a crashed job', async () => {
  const env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
  const vm = (await env.hypervisor.listVms({}))[0];
  // a job died holding its checkpoint; the guest kept writing into the AVHDX
  await env.hypervisor.createCheckpoint({ vmId: vm.id, name: 'hvsnap:dead-job', consistency: 'crash' });
  await labWrite({ dir: env.labDir, vm: vm.name, count: 4, seed: 3 });
  const r = await runBackup(env);
  expect(r.ok).toBe(true);
  await env.cleanup();
});
