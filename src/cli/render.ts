import type { BackupReport } from '../backup/types.js';
import type { PruneReport } from '../backup/prune.js';
import type { DryRunReport } from '../job/dry-run.js';
import type { RepairResult } from '../repository/repair.js';
import type { RestorePointManifest, VerifyReport } from '../repository/types.js';
import { formatBytes, formatMs, table } from './format.js';

/** A backup report for a person. */
export function renderBackupReport(r: BackupReport): string {
  const lines = [
    `job ${r.jobId}: ${r.status === 'interrupted' ? 'INTERRUPTED' : r.ok ? 'ok' : 'FAILED'} in ${formatMs(r.durationMs)}; ${r.totals.ok}/${r.totals.vms} VMs backed up; ${r.snapshotSets} array snapshot set(s) for ${r.sets.length} volume set(s)`,
  ];
  for (const s of r.sets) {
    lines.push(
      `  set ${s.index}: ${s.vms.length} VM(s) on ${s.volumes.join(', ') || 'host storage (host mode, over SFTP)'} → snapshot ${s.snapshot ?? '(none)'}${s.consistencyGroup ? ' (consistency group)' : ''}${s.error ? `  FAILED at ${s.error.step}: ${s.error.message}` : ''}`,
    );
  }
  lines.push(
    table(
      ['VM', 'status', 'mode', 'consistency', 'checkpoint', 'read', 'written', 'chunks new/reused', 'restore point'],
      r.vms.map((v) => [
        v.vm,
        v.status === 'ok' ? 'ok' : v.status === 'interrupted' ? 'interrupted' : `FAILED at ${v.step}`,
        // host mode: read over SFTP from the node, the checkpoint alive for the whole copy
        `${v.mode === 'host' ? 'host: ' : ''}${[...new Set(v.disks.map((d) => d.mode))].join('+') || '-'}`,
        v.consistency ? `${v.consistency}${v.fellBack ? ' (fallback)' : ''}` : '-',
        v.checkpointLifetimeMs !== undefined ? `${formatMs(v.checkpointLifetimeMs)}${v.mode === 'host' ? ' (during the copy)' : ''}` : '-',
        formatBytes(v.bytesRead),
        formatBytes(v.bytesWritten),
        `${v.chunksNew}/${v.chunksReused}`,
        v.restorePointId ?? '-',
      ]),
    ),
  );
  for (const v of r.vms.filter((x) => x.error)) lines.push(`  ${v.vm}: [${v.error!.code}] ${v.error!.message}`);
  lines.push(
    `total: read ${formatBytes(r.totals.bytesRead)}, wrote ${formatBytes(r.totals.bytesWritten)}, ${r.totals.chunksNew} new chunks, ${r.totals.chunksReused} reused`,
  );
  const failed = r.vms.filter((v) => v.status !== 'ok').map((v) => v.vm);
  if (failed.length) {
    lines.push(`next: fix the cause named above, then back up the failed VM(s) again: hvsnap backup --config FILE --vm ${failed.join(' ')}`);
    lines.push('      (nothing of the failed VMs was kept; `hvsnap doctor --config FILE` checks hosts, array and proxy)');
  }
  return lines.join('\n');
}

/** What `--dry-run` found: the sets (one array snapshot each, or host mode) and, per VM, full or incremental. */
export function renderDryRun(r: DryRunReport): string {
  const lines = ['dry run: nothing was touched', ...r.notes.map((n) => `  ${n}`)];
  for (const s of r.sets) {
    const groups = s.groups.length ? ` (VM groups ${s.groups.join(', ')})` : '';
    lines.push(
      s.mode === 'host'
        ? `  set ${s.index}: ${s.vms.length} VM(s) → host mode: read over SFTP from their node while the checkpoint lives, no array snapshot${groups}`
        : `  set ${s.index}: ${s.vms.length} VM(s) on ${s.volumes.join(', ')} → one array snapshot${groups}`,
    );
  }
  if (r.vms.length)
    lines.push(
      table(
        ['VM', 'set', 'disks', 'would copy', 'why'],
        r.vms.map((v) => [v.vm, v.set, v.disks, v.mode, v.reason]),
      ),
    );
  for (const u of r.unplaced) lines.push(`  ${u.vm}: would fail: ${u.error}`);
  const hostSets = r.sets.filter((s) => s.mode === 'host').length;
  lines.push(
    `would back up ${r.vms.length} VM(s) with ${r.sets.filter((s) => s.mode === 'array').length} array snapshot(s)${hostSets ? ` and ${hostSets} host-mode set(s)` : ''}${r.unplaced.length ? `; ${r.unplaced.length} VM(s) cannot be placed` : ''}`,
  );
  return lines.join('\n');
}

export function renderRestorePoints(points: RestorePointManifest[]): string {
  if (points.length === 0) return 'no restore points';
  return table(
    ['restore point', 'VM', 'created', 'consistency', 'disks', 'mode'],
    points.map((p) =>
      p.mode === 'snapshot-only'
        ? [p.id, p.vm.name, p.createdAt, p.consistency, p.snapshotDisks?.length ?? 0, `snapshot ${p.arraySnapshots.map((s) => s.name).join(',')}`]
        : [p.id, p.vm.name, p.createdAt, p.consistency, p.disks.length, [...new Set(p.disks.map((d) => d.mode))].join('+')],
    ),
  );
}

/** What prune deleted (or, with `dryRun`, would delete). */
export function renderPrune(r: PruneReport, dryRun: boolean): string {
  const verb = dryRun ? 'would delete' : 'deleted';
  return [
    `${verb} ${r.retention.deleted.length} restore point(s), kept ${r.retention.kept.length}`,
    ...r.retention.deleted.map((d) => `  - ${d.id} (${d.vmName}, ${d.createdAt})`),
    ...(r.snapshotsDeleted.length ? [`${verb} array snapshot(s): ${r.snapshotsDeleted.join(', ')}`] : []),
    ...r.snapshotFailures.map((f) => `  could not delete array snapshot ${f.name}: ${String(f.error.message)}`),
    ...(r.snapshotFailures.length ? ['next: `hvsnap cleanup --config FILE` lists the snapshots left; delete them on the array once the cause is fixed'] : []),
    ...(r.gc ? [`gc: ${r.gc.chunksDeleted} chunks, ${formatBytes(r.gc.bytesFreed)} freed`] : []),
  ].join('\n');
}

/** What `verify --repair` did, and the restore points it could not make whole. */
export function renderRepair(r: RepairResult): string {
  const lines = [
    `repair: ${r.packsChecked} pack(s) read, ${r.packsDropped} dropped, ${r.indexFilesReplaced} index file(s) replaced, ${r.chunksDropped} chunk copy(ies) dropped`,
  ];
  const missing = r.affected.filter((a) => a.missingChunks > 0);
  if (missing.length)
    lines.push(
      `restore points missing chunks until the next backup of their VM: ${missing.map((a) => `${a.restorePointId} (${a.vm}, ${a.missingChunks})`).join(', ')}`,
    );
  for (const a of r.affected.filter((x) => x.unreadable?.length))
    lines.push(
      `restore point ${a.restorePointId}${a.vm ? ` (${a.vm})` : ''} cannot be read, and no backup heals it (move it out of the repository): ${a.unreadable!.join('; ')}`,
    );
  return lines.join('\n');
}

/** A verify report for a person: what was checked, then each problem with where it is, then what to do. */
export function renderVerify(r: VerifyReport): string {
  const checked = `${r.restorePoints} restore point(s), ${r.disks} disk(s), ${r.chunksChecked} chunk(s)${r.deep ? `, ${formatBytes(r.bytesHashed)} re-hashed` : ' present'} in ${formatMs(r.durationMs)}`;
  if (r.ok) return `verify: OK — ${checked}${r.deep ? '' : ' (--deep also re-hashes every chunk)'}`;
  const lines = [`verify: ${r.problems.length + r.problemsOmitted} problem(s) — ${checked}`];
  for (const p of r.problems) {
    const where = [
      p.vm && `VM ${p.vm}`,
      p.diskId && `disk ${p.diskId}`,
      p.offset !== undefined && `at ${formatBytes(p.offset)}`,
      p.chunkId && `chunk ${p.chunkId.slice(0, 16)}…`,
      p.file,
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(`  ${p.restorePointId}  ${p.kind}${where ? ` (${where})` : ''}: ${p.message}`);
  }
  if (r.problemsOmitted) lines.push(`  … and ${r.problemsOmitted} more (--json lists the first 1000)`);
  const damaged = [...new Set(r.problems.map((p) => p.restorePointId))];
  lines.push(
    `next: do not rely on ${damaged.join(', ')}; restore from another restore point of the VM (hvsnap list --config FILE --vm NAME) and take a new full backup of it (hvsnap backup --config FILE --full --vm NAME)`,
  );
  return lines.join('\n');
}
