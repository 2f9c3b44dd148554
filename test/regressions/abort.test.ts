import { it, expect, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('after an abort, later volume sets still checkpoint their VMs', async () => {
  const env = await makeLabEnv({ vms: 6, volumes: 3, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const h = env.hypervisor;
  const w = Object.create(h);
  const after: string[] = [];
  const c = new AbortController();
  w.createCheckpoint = async (a: any, o: any) => { if (c.signal.aborted) after.push(a.vmId); return h.createCheckpoint(a, o); };
  env.hypervisor = w;
  const r = await runBackup(env, { signal: c.signal, hooks: { beforeStep: (s) => { if (s === 'snapshot') c.abort(new Error('SIGINT')); } } }).catch((e) => e);
  expect(after).toEqual([]);
});
