import type { BackupReport } from '../backup/types.js';
import type { RestorePointManifest } from '../repository/types.js';
import { formatBytes, formatMs, table } from './format.js';

/** A backup report for a person. */
export function renderBackupReport(r: BackupReport): string {
  const lines = [
    `job ${r.jobId}: ${r.ok ? 'ok' : 'FAILED'} in ${formatMs(r.durationMs)}; ${r.totals.ok}/${r.totals.vms} VMs backed up; ${r.snapshotSets} array snapshot set(s) for ${r.sets.length} volume set(s)`,
  ];
  for (const s of r.sets) {
    lines.push(`  set ${s.index}: ${s.vms.length} VM(s) on ${s.volumes.join(', ') || 'host storage (host mode, over SFTP)'} → snapshot ${s.snapshot ?? '(none)'}${s.consistencyGroup ? ' (consistency group)' : ''}${s.error ? `  FAILED at ${s.error.step}: ${s.error.message}` : ''}`);
  }
  lines.push(
    table(
      ['VM', 'status', 'mode', 'consistency', 'checkpoint', 'read', 'written', 'chunks new/reused', 'restore point'],
      r.vms.map((v) => [
        v.vm,
        v.status === 'ok' ? 'ok' : `FAILED at ${v.step}`,
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
  lines.push(`total: read ${formatBytes(r.totals.bytesRead)}, wrote ${formatBytes(r.totals.bytesWritten)}, ${r.totals.chunksNew} new chunks, ${r.totals.chunksReused} reused`);
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
