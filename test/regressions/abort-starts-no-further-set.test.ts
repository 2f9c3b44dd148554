import { it, expect, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import type { Hypervisor } from '../../src/hyperv/hypervisor.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('after an abort, no later volume set is started: no checkpoint is taken, the run ends aborted and leaves nothing', async () => {
  const env = await makeLabEnv({ vms: 6, volumes: 3, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const h = env.hypervisor;
  const w: Hypervisor = Object.create(h);
  const afterAbort: string[] = [];
  const c = new AbortController();
  w.createCheckpoint = async (a, o) => {
    if (c.signal.aborted) afterAbort.push(a.vmId);
    return h.createCheckpoint(a, o);
  };
  env.hypervisor = w;
  let setsStarted = 0;

  const r: unknown = await runBackup(env, {
    signal: c.signal,
    hooks: {
      beforeStep: (step, where) => {
        if (step === 'checkpoint' && where.set > setsStarted) setsStarted = where.set;
        if (step === 'snapshot') c.abort(new Error('SIGINT'));
      },
    },
  }).catch((e: unknown) => e);

  // the run is cancelled as a whole (a report would mean the later sets ran and failed one by one)
  expect(r).toMatchObject({ code: 'aborted' });
  expect(setsStarted).toBe(1);
  expect(afterAbort).toEqual([]);
  const left = await h.listLeftovers({ tagPrefix: 'hvsnap:' });
  expect(left.checkpoints).toEqual([]);
  expect(await env.provider.listSnapshots({})).toEqual([]);
});
