import type { BackupPlan, VolumeSet } from './plan.js';
import type { LimitStats } from './limits.js';
import type { VmInfo } from '../core/types.js';
import type { BackupReport, SetReport, VmReport } from './types.js';
import type { backupSet } from './backup-set.js';

/** A VM's report before (or without) any copy: no disks, no bytes; `fields` says how it stands. */
export function vmReportOf(vm: Pick<VmInfo, 'name' | 'id'>, set: number, fields: Partial<VmReport> = {}): VmReport {
  return { vm: vm.name, vmId: vm.id, set, status: 'ok', disks: [], bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0, durationMs: 0, ...fields };
}

/** A volume set's report before (or without) its run: its VMs, volumes and groups; `fields` says how it stands. */
export function setReportOf(set: VolumeSet, fields: Partial<SetReport> = {}): SetReport {
  return {
    index: set.index,
    vms: set.vms.map((v) => v.name),
    volumes: set.volumes.map((v) => v.volumeRoot),
    groups: set.groups,
    consistencyGroup: false,
    status: 'ok',
    ...fields,
  };
}

/** What one volume set's backup returns. */
export type SetResult = Awaited<ReturnType<typeof backupSet>>;

/** The job's report: unplaced VMs first, then the sets in plan order, totals, and whether all of it is ok. */
export function buildReport(args: {
  jobId: string;
  started: number;
  plan: BackupPlan;
  results: SetResult[];
  leftBehind: string[];
  concurrency: LimitStats;
}): BackupReport {
  const report: BackupReport = {
    jobId: args.jobId,
    startedAt: new Date(args.started).toISOString(),
    durationMs: 0,
    snapshotSets: 0,
    sets: [],
    vms: [],
    totals: { vms: 0, ok: 0, failed: 0, bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0 },
    leftBehind: args.leftBehind,
    concurrency: args.concurrency,
    ok: false,
  };
  for (const u of args.plan.unplaced)
    report.vms.push(vmReportOf(u.vm, 0, { status: 'failed', step: 'plan', error: { code: u.error.code, message: u.error.message } }));
  for (const result of [...args.results].sort((a, b) => a.set.index - b.set.index)) {
    report.sets.push(result.set);
    report.vms.push(...result.vms);
    if (result.set.snapshot) report.snapshotSets++;
  }
  for (const v of report.vms) {
    report.totals.vms++;
    report.totals[v.status === 'ok' ? 'ok' : 'failed']++;
    for (const k of ['bytesRead', 'bytesWritten', 'chunksNew', 'chunksReused'] as const) report.totals[k] += v[k];
  }
  report.ok = report.totals.failed === 0 && args.leftBehind.length === 0;
  report.status = report.ok ? 'ok' : 'failed';
  report.durationMs = Date.now() - args.started;
  return report;
}

/**
 * A cancelled run: VMs that failed because of the abort, and every VM of a set that never started,
 * are \`interrupted\` (a resume backs them up), not failures of their own; the run is not ok.
 */
export function markInterrupted(report: BackupReport, notStarted: VolumeSet[]): void {
  for (const v of report.vms) if (v.status === 'failed' && v.error?.code === 'aborted') v.status = 'interrupted';
  for (const set of notStarted) {
    report.sets.push(setReportOf(set, { status: 'failed', error: { code: 'aborted', message: 'not started: the run was interrupted' } }));
    for (const vm of set.vms)
      report.vms.push(vmReportOf(vm, set.index, { status: 'interrupted', error: { code: 'aborted', message: 'not started: the run was interrupted' } }));
  }
  report.sets.sort((a, b) => a.index - b.index);
  report.totals.vms = report.vms.length;
  report.totals.ok = report.vms.filter((v) => v.status === 'ok').length;
  report.totals.failed = report.vms.length - report.totals.ok;
  report.ok = false;
  report.status = 'interrupted';
}
