import { rm } from 'node:fs/promises';
import { ARRAY_NAME_PREFIX, CHECKPOINT_TAG, isJobArrayName, jobIdOfCheckpoint, journalDir } from '../core/names.js';
import { errorSummary, isHvsnapError } from '../core/errors.js';
import { readOpenJournals } from './journal.js';
import { backupUndoTargets, describeUndo, runUndo, type UndoTargets } from './undo.js';
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
  const targets = backupUndoTargets(env);
  // array snapshots that committed (snapshot-only) restore points keep: never deleted here
  const committed = await env.repository.listRestorePoints();
  const retained = new Set(committed.flatMap((p) => p.arraySnapshots.filter((s) => s.retained).map((s) => s.name)));
  const named = new Set(committed.flatMap((p) => (p.referencePointId ? [p.referencePointId] : [])));
  // per VM, the reference point of its latest restore point: the base of the next incremental. A
  // kill between a commit and its journal's "done" entries leaves its undo pending; replaying it
  // would cost the next backup its base. (A superseded one's pending deletion is completed.)
  const latest = new Map<string, string | undefined>();
  for (const p of committed) latest.set(p.vm.id.toLowerCase(), p.referencePointId);
  const needed = new Set([...latest.values()].filter((x): x is string => !!x));
  const journals = await readOpenJournals(opts.journalDir ?? journalDir(env.repository.path));
  const liveJobs = await replayJournals(journals, report, { retained, needed }, targets, opts.signal);
  const { checkpoints, referencePoints, unanswered } = await env.hypervisor.listLeftovers({ tagPrefix: CHECKPOINT_TAG }, { signal: opts.signal });
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
  // this repository's: named by its restore points, or made by its jobs (committed, or journaled and dead)
  const ours = { referencePoints: named, jobs: new Set([...committed.map((p) => p.jobId), ...journals.map((j) => j.jobId)]) };
  const unneeded = referencePoints.filter(
    (rp) =>
      !needed.has(rp.id) &&
      !liveJobs.has(jobIdOfCheckpoint(rp.name) ?? '') &&
      (ours.referencePoints.has(rp.id) || ours.jobs.has(jobIdOfCheckpoint(rp.name) ?? '')),
  );
  await removeReferencePoints(env, unneeded, report, opts.signal);
  for (const s of await env.provider.listSnapshots({ prefix: ARRAY_NAME_PREFIX }, { signal: opts.signal })) {
    if (!retained.has(s.name) && ![...liveJobs].some((job) => isJobArrayName(s.name, job))) report.orphanSnapshots.push(s.name);
  }
  // the journals above removed their jobs' uncommitted restore points; gc removes any other temp folder, once no live job uses the repository
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
 * Replays the pending undos of the journals of dead jobs (a journal is removed once all of them went
 * through); a job that still runs is skipped. Returns the ids of the jobs that still run.
 */
async function replayJournals(
  journals: Awaited<ReturnType<typeof readOpenJournals>>,
  report: CleanupReport,
  keep: { retained: Set<string>; needed: Set<string> },
  targets: UndoTargets,
  signal: AbortSignal | undefined,
): Promise<Set<string>> {
  const { retained, needed } = keep;
  const liveJobs = new Set<string>();
  for (const j of journals) {
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
      if (u.record.kind === 'deleteReferencePoint' && needed.has(u.record.referencePointId)) {
        report.skipped.push(`${j.jobId}: reference point ${u.record.referencePointId} of VM ${u.record.vmName} is the base of the latest restore point`);
        continue;
      }
      try {
        const note = await runUndo(u.record, targets, signal);
        // a note is left to the operator: nothing was undone
        if (note) report.skipped.push(`${j.jobId}: ${note}`);
        else report.replayed.push(`${j.jobId}: ${describeUndo(u.record)}`);
      } catch (e) {
        failed = true;
        report.failures.push({ what: `${j.jobId}: ${describeUndo(u.record)}`, error: errorSummary(e) });
      }
    }
    if (!failed) await rm(j.file, { force: true });
  }
  return liveJobs;
}

/**
 * Removes reference points of hvsnap that no restore point needs. A reference point is needed only
 * by the latest restore point of its VM: that is where the next incremental starts (older restore
 * points are complete without it). Every other one — superseded by a backup killed before it
 * deleted it, made by a job that died, or by one of two backups of a VM that ran at once — is an
 * RCT file set nothing would ever remove. The caller passes only this repository's, and none of a
 * live job: another repository's, and untagged ones (not ours), are left alone.
 */
async function removeReferencePoints(
  env: BackupEnvironment,
  unneeded: ReferencePoint[],
  report: CleanupReport,
  signal: AbortSignal | undefined,
): Promise<void> {
  for (const rp of unneeded) {
    try {
      await env.hypervisor.deleteReferencePoint({ vmId: rp.vmId, referencePointId: rp.id }, { signal });
      report.referencePoints.push(`${rp.vmId}: ${rp.name} (${rp.id})`);
    } catch (e) {
      report.failures.push({ what: `reference point ${rp.id} (${rp.name}) of VM ${rp.vmId}`, error: errorSummary(e) });
    }
  }
}
