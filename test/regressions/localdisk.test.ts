import { it, expect, onTestFinished } from 'vitest';
import { runBatch, batchSpecSchema } from '../../src/backup/batch.js';
import { HvsnapError } from '../../src/core/errors.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('one VM with a disk on local storage in a batch of 6', async () => {
  const env = await makeLabEnv({ vms: 6, volumes: 2, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const h = env.hypervisor;
  const w = Object.create(h);
  w.resolveVolume = async (a: { path: string }, o: unknown) => {
    if (a.path.includes('vm-04')) throw new HvsnapError('not_found', `no volume of the lab host holds ${a.path}`);
    return h.resolveVolume(a, o as never);
  };
  env.hypervisor = w;
  const r = await runBatch(env, batchSpecSchema.parse({})).catch((e) => e);
  expect(r).not.toBeInstanceOf(Error);
});
