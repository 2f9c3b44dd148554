import { rm } from 'node:fs/promises';
import { ARRAY_NAME_PREFIX, CHECKPOINT_TAG, isJobArrayName, jobIdOfCheckpoint, journalDir } from '../core/names.js';
import { errorSummary, isHvsnapError } from '../core/errors.js';
import { readOpenJournals } from './journal.js';
import { describeUndo, runUndo } from './undo.js';
import type { ReferencePoint } from '../core/types.js';
import type { BackupEnvironment } from './types.js';

export interface CleanupReport {
  /** undos replayed from the journals of jobs that died */
  replayed: string[];
  /** journals of jobs still running, and undos that would delete what a restore point keeps */
  skipped: string[];
  /** hvsnap checkpoints found on the host and removed */
  checkpoints: string[];
  /** hvsnap reference points that no restore point needs any more (superseded, or left by a kill), removed */
  referencePoints: string[];
  /** array snapshots named by hvsnap that no journal or restore point accounts for (listed, not deleted) */
  orphanSnapshots: string[];
  /** what the hypervisor mended in its own bookkeeping (the lab after a kill); empty for a real host */
  hostMended: string[];
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
  const report: CleanupReport = { replayed: [], skipped: [], checkpoints: [], referencePoints: [], orphanSnapshots: [], hostMended: [], failures: [] };
  // the host's own bookkeeping first: the undos below call it
  if (env.hypervisor.recover) report.hostMended = (await env.hypervisor.recover({ signal: opts.signal })).mended;
  const targets = { hypervisor: env.hypervisor, provider: env.provider, proxy: env.proxy, abortRestorePoint: async () => {} };
  // array snapshots that committed (snapshot-only) restore points keep: never deleted here
  const committed = await env.repository.listRestorePoints();
  const retained = new Set(committed.flatMap((p) => p.arraySnapshots.filter((s) => s.retained).map((s) => s.name)));
  // reference points committed restore points name: a kill between a commit and its journal's
  // "done" entries leaves their undo pending, and replaying it would cost the next backup its base
  const named = new Set(committed.flatMap((p) => (p.referencePointId ? [p.referencePointId] : [])));
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
      if (u.record.kind === 'deleteReferencePoint' && named.has(u.record.referencePointId)) {
        report.skipped.push(`${j.jobId}: reference point ${u.record.referencePointId} of VM ${u.record.vmName} belongs to a committed restore point`);
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
  const { checkpoints, referencePoints } = await env.hypervisor.listLeftovers({ tagPrefix: CHECKPOINT_TAG }, { signal: opts.signal });
  for (const cp of checkpoints.filter((c) => !liveJobs.has(jobIdOfCheckpoint(c.name) ?? ''))) {
    try {
      await env.hypervisor.deleteCheckpoint({ vmId: cp.vmId, checkpointId: cp.id }, { signal: opts.signal });
      report.checkpoints.push(`${cp.vmName}: ${cp.name}`);
    } catch (e) {
      report.failures.push({ what: `checkpoint ${cp.name} of ${cp.vmName}`, error: errorSummary(e) });
    }
  }
  const ours = { referencePoints: named, jobs: new Set(committed.map((p) => p.jobId)) };
  await removeUnneededReferencePoints(env, referencePoints.filter((rp) => ours.referencePoints.has(rp.id) || ours.jobs.has(jobIdOfCheckpoint(rp.name) ?? '')), liveJobs, report, opts.signal);
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

/**
 * A reference point of hvsnap (tagged, on any VM of the host) is needed only by the latest restore
 * point of its VM: that is where the next incremental starts (older restore points are complete
 * without it). Every other one — superseded by a backup killed before it deleted it, or made by a
 * job that died, or by one of two backups of a VM that ran at once — is an RCT file set nothing
 * would ever remove, and goes. `found` holds only this repository's (a restore point or a job of
 * this repository made them): another repository's, those of live jobs, and untagged ones are left alone.
 */
async function removeUnneededReferencePoints(
  env: BackupEnvironment,
  found: ReferencePoint[],
  liveJobs: Set<string>,
  report: CleanupReport,
  signal: AbortSignal | undefined,
): Promise<void> {
  const needed = new Map<string, string | undefined>();
  for (const rp of found) {
    const vm = rp.vmId.toLowerCase();
    if (!needed.has(vm)) needed.set(vm, (await env.repository.latestRestorePoint(rp.vmId))?.referencePointId);
    if (needed.get(vm) === rp.id || liveJobs.has(jobIdOfCheckpoint(rp.name) ?? '')) continue;
    try {
      await env.hypervisor.deleteReferencePoint({ vmId: rp.vmId, referencePointId: rp.id }, { signal });
      report.referencePoints.push(`${rp.vmId}: ${rp.name} (${rp.id})`);
    } catch (e) {
      report.failures.push({ what: `reference point ${rp.id} (${rp.name}) of VM ${rp.vmId}`, error: errorSummary(e) });
    }
  }
}
