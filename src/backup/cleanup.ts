import { rm } from 'node:fs/promises';
import { ARRAY_NAME_PREFIX, CHECKPOINT_TAG, isJobArrayName, jobIdOfCheckpoint, journalDir } from '../core/names.js';
import { errorSummary, isHvsnapError } from '../core/errors.js';
import { readOpenJournals } from './journal.js';
import { describeUndo, runUndo } from './undo.js';
import type { BackupEnvironment } from './types.js';

export interface CleanupReport {
  /** undos replayed from the journals of jobs that died */
  replayed: string[];
  /** journals of jobs still running, and undos that would delete what a restore point keeps */
  skipped: string[];
  /** hvsnap checkpoints found on the host and removed */
  checkpoints: string[];
  /** array snapshots named by hvsnap that no journal or restore point accounts for (listed, not deleted) */
  orphanSnapshots: string[];
  failures: Array<{ what: string; error: Record<string, unknown> }>;
  /** whether the repository's garbage collection (which removes half-written restore points) ran */
  gc?: string;
}

/**
 * After a crash: replays the undos of unfinished job journals (newest first), removes hvsnap's
 * recovery checkpoints still on the host, and lists array snapshots hvsnap made that nothing
 * accounts for. Idempotent: every undo is.
 */
export async function cleanupLeftovers(env: BackupEnvironment, opts: { journalDir?: string; signal?: AbortSignal } = {}): Promise<CleanupReport> {
  const report: CleanupReport = { replayed: [], skipped: [], checkpoints: [], orphanSnapshots: [], failures: [] };
  const targets = { hypervisor: env.hypervisor, provider: env.provider, proxy: env.proxy, abortRestorePoint: async () => {} };
  // array snapshots that committed (snapshot-only) restore points keep: never deleted here
  const retained = new Set((await env.repository.listRestorePoints()).flatMap((p) => p.arraySnapshots.filter((s) => s.retained).map((s) => s.name)));
  const liveJobs = new Set<string>();
  for (const j of await readOpenJournals(opts.journalDir ?? journalDir(env.repository.path))) {
    if (j.owner.alive) {
      // a job that still runs owns its journal and its checkpoints
      liveJobs.add(j.jobId);
      report.skipped.push(`${j.jobId}: still running (pid ${j.owner.pid} on ${j.owner.host})`);
      continue;
    }
    let failed = false;
    for (const u of j.pending) {
      if (u.record.kind === 'deleteSnapshot' && retained.has(u.record.name)) {
        report.skipped.push(`${j.jobId}: array snapshot ${u.record.name} is kept by a committed restore point`);
        continue;
      }
      try {
        await runUndo(u.record, targets, opts.signal);
        report.replayed.push(`${j.jobId}: ${describeUndo(u.record)}`);
      } catch (e) {
        failed = true;
        report.failures.push({ what: `${j.jobId}: ${describeUndo(u.record)}`, error: errorSummary(e) });
      }
    }
    if (!failed) await rm(j.file, { force: true });
  }
  const { checkpoints, unanswered } = await env.hypervisor.listLeftovers({ tagPrefix: CHECKPOINT_TAG }, { signal: opts.signal });
  // a cluster node that did not answer may still hold leftovers: a failure for that node, not "clean"
  for (const u of unanswered ?? []) report.failures.push({ what: `leftover checkpoints on ${u.host}`, error: errorSummary(u.error) });
  for (const cp of checkpoints.filter((c) => !liveJobs.has(jobIdOfCheckpoint(c.name) ?? ''))) {
    try {
      await env.hypervisor.deleteCheckpoint({ vmId: cp.vmId, checkpointId: cp.id }, { signal: opts.signal });
      report.checkpoints.push(`${cp.vmName}: ${cp.name}`);
    } catch (e) {
      report.failures.push({ what: `checkpoint ${cp.name} of ${cp.vmName}`, error: errorSummary(e) });
    }
  }
  for (const s of await env.provider.listSnapshots({ prefix: ARRAY_NAME_PREFIX }, { signal: opts.signal })) {
    if (!retained.has(s.name) && ![...liveJobs].some((job) => isJobArrayName(s.name, job))) report.orphanSnapshots.push(s.name);
  }
  // uncommitted restore points of dead jobs are temp folders: gc removes them, once no live job uses the repository
  try {
    await env.repository.gc();
    report.gc = 'done';
  } catch (e) {
    if (!(isHvsnapError(e) && e.code === 'repository_locked')) throw e;
    report.gc = `skipped: ${e.message}`;
  }
  return report;
}
