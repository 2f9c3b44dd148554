import { it, expect, onTestFinished, vi } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { Journal } from '../../src/backup/journal.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it("a checkpoint whose undo the job journal cannot take (disk full) is still deleted: that VM fails, the other's backup goes on, nothing is left", async () => {
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const write = Journal.prototype.append;
  let failed: string | undefined;
  // the record of the first checkpoint made is the one the disk has no room for
  vi.spyOn(Journal.prototype, 'append').mockImplementation(async function (this: Journal, entry) {
    if (entry.t === 'undo' && entry.record.kind === 'deleteCheckpoint' && (failed ??= entry.record.vmName) === entry.record.vmName) {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return write.call(this, entry);
  });
  onTestFinished(() => void vi.restoreAllMocks());

  const r = await runBackup(env, {});
  expect(failed).toBeDefined();
  const byName = Object.fromEntries(r.vms.map((v) => [v.vm, v]));
  expect(byName[failed!]).toMatchObject({ status: 'failed', step: 'checkpoint' });
  expect(byName[failed!].error?.message).toMatch(/ENOSPC/);
  expect(r.vms.filter((v) => v.vm !== failed).map((v) => v.status)).toEqual(['ok']);
  expect((await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints).toEqual([]);
  expect(await env.provider.listSnapshots({})).toEqual([]);
  expect(r.leftBehind).toEqual([]);
});
