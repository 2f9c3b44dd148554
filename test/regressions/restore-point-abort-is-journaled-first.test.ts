import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { readOpenJournals } from '../../src/backup/journal.js';
import { makeLabEnv } from '../helpers/lab-env.js';

/**
 * The scale-out test's leftover `repo/tmp/<id>` after a worker was SIGKILLed: the abort of a restore
 * point was journaled after its folder was made and its configuration written, so a kill in between
 * left a folder no journal named (the retry and `hvsnap cleanup` removed nothing; only a gc would).
 * The abort is now journaled, with the id the writer will use, before the folder exists.
 */
it('every restore point folder is named by a pending abort in the journal before it is made', async () => {
  const env = await makeLabEnv({ vms: 3, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  onTestFinished(() => env.cleanup());
  const repo = env.repository;
  const begin = repo.beginRestorePoint.bind(repo);
  const seen: Array<{ vm: string; id?: string; journaled: boolean; folders: string[] }> = [];
  repo.beginRestorePoint = async (args) => {
    const pending = (await readOpenJournals(join(repo.path, '.journal'))).flatMap((j) => j.pending.map((u) => u.record));
    const journaled = pending.some((r) => r.kind === 'abortRestorePoint' && r.restorePointId === args.id);
    seen.push({ vm: args.vmName, id: args.id, journaled, folders: await readdir(join(repo.path, 'tmp')) });
    return begin(args);
  };
  const report = await runBackup(env);
  expect(report.ok).toBe(true);
  // the VMs run concurrently: compare in name order
  expect(seen.map((s) => [s.vm, s.journaled]).sort()).toEqual(report.vms.map((v) => [v.vm, true]).sort());
  // the id journaled is the id committed, and its folder did not exist yet
  expect(seen.map((s) => s.id).sort()).toEqual(report.vms.map((v) => v.restorePointId).sort());
  for (const s of seen) expect(s.folders).not.toContain(s.id);
});
