import { it, expect, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { HvsnapError } from '../../src/core/errors.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('the array made the snapshot but the call timed out', async () => {
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const p = env.provider;
  const w = Object.create(p);
  w.createSnapshot = async (a: any, o: any) => {
    await p.createSnapshot(a, o);
    throw new HvsnapError('timeout', 'timeout waiting for the array job');
  };
  env.provider = w;
  await runBackup(env);
  const left = (await p.listSnapshots({})).map((s) => s.name);
  expect(left).toEqual([]);
});
