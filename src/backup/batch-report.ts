import type { RestorePointManifest } from '../repository/types.js';
import type { JobRecord } from './job-history.js';
import type { BackupReport, VmReport } from './types.js';

/** The report of a run that had nothing left to do. */
export function emptyReport(jobId: string): BackupReport {
  return {
    jobId,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    snapshotSets: 0,
    sets: [],
    vms: [],
    status: 'ok',
    totals: { vms: 0, ok: 0, failed: 0, bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0 },
    ok: true,
  };
}

/**
 * What earlier runs of a batch achieved: one `ok` VM report per VM with a restore point from the
 * batch, taken from the earlier run's saved report where there is one, else rebuilt from the
 * restore point's manifest (a run that was killed saved no report).
 */
export function earlierResults(points: RestorePointManifest[], records: JobRecord[]): VmReport[] {
  const fromRecords = new Map<string, VmReport>();
  for (const r of records) for (const v of r.report?.vms ?? []) if (v.status === 'ok' && v.restorePointId) fromRecords.set(v.restorePointId, v);
  return points.map((p) => {
    const saved = fromRecords.get(p.id);
    if (saved) return saved;
    const sum = (k: 'bytesRead' | 'bytesWritten' | 'chunksNew' | 'chunksReused') => p.disks.reduce((n, d) => n + (d[k] ?? 0), 0);
    return {
      vm: p.vm.name,
      vmId: p.vm.id,
      set: 0,
      status: 'ok',
      restorePointId: p.id,
      consistency: p.consistency,
      disks: p.disks.map((d) => ({
        diskId: d.diskId,
        mode: d.mode,
        virtualSize: d.virtualSize,
        bytesRead: d.bytesRead ?? 0,
        bytesWritten: d.bytesWritten ?? 0,
        chunksNew: d.chunksNew ?? 0,
        chunksReused: d.chunksReused ?? 0,
      })),
      bytesRead: sum('bytesRead'),
      bytesWritten: sum('bytesWritten'),
      chunksNew: sum('chunksNew'),
      chunksReused: sum('chunksReused'),
      durationMs: 0,
    };
  });
}

/** This run's report with the VMs earlier runs already backed up: totals and `ok` cover both. */
export function combineReports(report: BackupReport, earlier: VmReport[], earlierRuns: string[]): BackupReport & { runs: string[] } {
  const vms = [...earlier, ...report.vms.filter((v) => !earlier.some((e) => e.vmId === v.vmId))];
  const totals = { vms: 0, ok: 0, failed: 0, bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0 };
  for (const v of vms) {
    totals.vms++;
    totals[v.status === 'ok' ? 'ok' : 'failed']++;
    for (const k of ['bytesRead', 'bytesWritten', 'chunksNew', 'chunksReused'] as const) totals[k] += v[k];
  }
  const ok = totals.failed === 0 && (report.leftBehind ?? []).length === 0 && report.status !== 'interrupted';
  return { ...report, vms, totals, ok, status: report.status === 'interrupted' ? 'interrupted' : ok ? 'ok' : 'failed', runs: [...earlierRuns, report.jobId] };
}
