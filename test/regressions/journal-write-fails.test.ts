import { it, expect, onTestFinished, vi } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { readOpenJournals } from '../../src/backup/journal.js';
import { captureLogger, type CapturedLine } from '../../src/core/logger.js';
import { journalDir } from '../../src/core/names.js';
import { journalDiskFull } from '../helpers/journal-full.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it("a checkpoint whose undo the job journal cannot take (disk full) is still deleted: that VM fails, the other's backup goes on, nothing is left", async () => {
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  let failed: string | undefined;
  // the record of the first checkpoint made is the one the disk has no room for
  journalDiskFull((entry) => entry.t === 'undo' && entry.record.kind === 'deleteCheckpoint' && (failed ??= entry.record.vmName) === entry.record.vmName);
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

it('a step that makes two undos permanent and cannot journal the first: neither is undone by this process (a committed restore point keeps its reference point)', async () => {
  const env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  let dones = 0;
  const undos = new Map<number, string>();
  // commit settles the restore point's abort and the reference point's removal: the disk fills at the first "done"
  journalDiskFull((entry) => {
    if (entry.t === 'undo') undos.set(entry.id, entry.record.kind);
    return entry.t === 'done' && undos.get(entry.id) === 'abortRestorePoint' && dones++ === 0;
  });
  onTestFinished(() => void vi.restoreAllMocks());

  const r = await runBackup(env, {});
  expect(r.vms[0]).toMatchObject({ status: 'failed', step: 'commit' });
  expect(await env.repository.listRestorePoints({})).toHaveLength(1);
  // the committed restore point's reference point is still there for the next incremental
  expect((await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).referencePoints).toHaveLength(1);
});

it('a job whose journal cannot take its end entry (disk full) still reports what it did, and its journal goes', async () => {
  const lines: CapturedLine[] = [];
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20, logger: captureLogger(lines) });
  onTestFinished(() => env.cleanup());
  const refused = journalDiskFull((entry) => entry.t === 'end');
  onTestFinished(() => void vi.restoreAllMocks());

  const r = await runBackup(env, {});
  expect(refused).toHaveLength(1);
  expect(r.ok).toBe(true);
  expect(r.vms.map((v) => v.status)).toEqual(['ok', 'ok']);
  expect(await env.repository.listRestorePoints({})).toHaveLength(2);
  // nothing is owed, so nothing is left for "hvsnap cleanup" to replay
  expect(await readOpenJournals(journalDir(env.repository.path))).toEqual([]);
  expect(lines.filter((l) => l.level === 'warn' && /could not record the end of the job/.test(l.msg ?? '')).map((l) => l.obj.journal)).toEqual([
    expect.stringMatching(/\.jsonl$/),
  ]);
});
