import { it, expect, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import type { Hypervisor } from '../../src/hyperv/hypervisor.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('after an abort, no later volume set is started: no checkpoint is taken, the run ends interrupted and leaves nothing', async () => {
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

  const r = await runBackup(env, {
    signal: c.signal,
    hooks: {
      beforeStep: (step, where) => {
        if (step === 'checkpoint' && where.set > setsStarted) setsStarted = where.set;
        if (step === 'snapshot') c.abort(new Error('SIGINT'));
      },
    },
  });

  // the run is cancelled as a whole: it reports itself interrupted, not ok, and the later sets as
  // never started (not as sets that ran and failed one by one)
  expect(r.ok).toBe(false);
  expect(r.status).toBe('interrupted');
  expect(setsStarted).toBe(1);
  const later = r.sets.filter((s) => s.index > 1);
  expect(later.length).toBeGreaterThan(0);
  for (const s of later) expect(s.error).toMatchObject({ code: 'aborted', message: 'not started: the run was interrupted' });
  for (const v of r.vms.filter((v) => v.set > 1)) {
    expect(v.status).toBe('interrupted');
    expect(v.disks).toEqual([]);
  }
  expect(r.leftBehind).toEqual([]);
  expect(afterAbort).toEqual([]);
  const left = await h.listLeftovers({ tagPrefix: 'hvsnap:' });
  expect(left.checkpoints).toEqual([]);
  expect(await env.provider.listSnapshots({})).toEqual([]);
});
