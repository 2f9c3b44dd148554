import { it, expect, onTestFinished } from 'vitest';
import { runBatch, batchSpecSchema } from '../../src/backup/batch.js';
import { HvsnapError } from '../../src/core/errors.js';
import type { Hypervisor } from '../../src/hyperv/hypervisor.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('a VM with a disk on local storage fails alone at plan; the other VMs of the batch get their restore points', async () => {
  const env = await makeLabEnv({ vms: 6, volumes: 2, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const h = env.hypervisor;
  const w: Hypervisor = Object.create(h);
  // vm-04's disk is on a local disk of the host: no array volume holds it
  w.resolveVolume = async (a, o) => {
    if (a.path.includes('vm-04')) throw new HvsnapError('not_found', `no volume of the lab host holds ${a.path}`);
    return h.resolveVolume(a, o);
  };
  env.hypervisor = w;

  const r = await runBatch(env, batchSpecSchema.parse({}));

  expect(r.ok).toBe(false);
  const local = r.vms.find((v) => v.vm === 'vm-04');
  expect(local).toMatchObject({ status: 'failed', step: 'plan', error: { code: 'not_found' } });
  expect(local?.error?.message).toMatch(/vm-04.*is on no volume the array can snapshot/);
  const others = r.vms.filter((v) => v.vm !== 'vm-04');
  expect(others.map((v) => v.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
  const committed = await env.repository.listRestorePoints();
  expect(committed.map((p) => p.vm.name).sort()).toEqual(['vm-01', 'vm-02', 'vm-03', 'vm-05', 'vm-06']);
  expect(committed.map((p) => p.id).sort()).toEqual(others.map((v) => v.restorePointId).sort());
});
