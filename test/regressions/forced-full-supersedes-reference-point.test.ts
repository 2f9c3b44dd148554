import { it, expect, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('reference points after full, --full, --full, incremental', async () => {
  const env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const count = async () => (await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).referencePoints.length;
  await runBackup(env);
  expect(await count()).toBe(1);
  // a forced full makes a new reference point and supersedes the old one
  await runBackup(env, { policy: { forceFull: true } });
  expect(await count()).toBe(1);
  await runBackup(env, { policy: { forceFull: true } });
  expect(await count()).toBe(1);
  const incr = await runBackup(env);
  expect(incr.vms[0].disks[0].mode).toBe('incremental');
  expect(await count()).toBe(1);
});
