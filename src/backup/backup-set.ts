import { createLimit, type Limit } from '../core/concurrency.js';
import type { HostLeases } from './host-leases.js';
import type { JobThrottle } from './job-throttle.js';
import { checkpointName, presentationName, snapshotName } from '../core/names.js';
import { setReportOf, vmReportOf } from './backup-report.js';
import type { VolumeSet } from './plan.js';
import { runSteps } from './run-steps.js';
import type { Saga } from './saga.js';
import { backupModes } from './steps/index.js';
import type { SetRun, VmRun } from './steps/step.js';
import type { BackupEnvironment, BackupOptions, BackupPolicy, SetReport, VmReport } from './types.js';

export interface SetContext {
  env: BackupEnvironment;
  policy: BackupPolicy;
  options: BackupOptions;
  jobId: string;
  saga: Saga;
  /** disks copied at once through the proxy, shared by every set of the run */
  copySlots: Limit;
  /** the job's read-rate cap, shared by every disk copied at once (absent: each disk gets the policy's cap) */
  throttle?: JobThrottle;
  /** the proxy's host object as every set of the process shares it (host-leases.ts) */
  hostLeases?: HostLeases;
}

/**
 * One volume set through its mode's step list (`steps/index.ts`). Set-wide steps (array snapshot,
 * present, attach) fail the set; per-VM steps fail only that VM, whose own side effects are undone
 * at once, so a neighbour's failure never costs a VM its restore point.
 */
export async function backupSet(ctx: SetContext, set: VolumeSet): Promise<{ set: SetReport; vms: VmReport[] }> {
  const report = setReportOf(set);
  const snapshot = snapshotName(ctx.jobId, set.index);
  const state: SetRun = {
    ...ctx,
    set,
    volumeRoots: set.volumes,
    report,
    vms: set.vms.map((vm) => ({
      vm,
      started: Date.now(),
      changes: {},
      failed: false,
      disks: [],
      report: vmReportOf(vm, set.index, { mode: set.mode ?? ctx.policy.mode }),
    })),
    log: ctx.env.logger.child({ set: set.index }),
    signal: ctx.options.signal,
    names: { checkpoint: checkpointName(ctx.jobId), snapshot, presentation: presentationName(snapshot) },
  };
  const perSet = { host: createLimit(ctx.policy.checkpointConcurrency), repository: createLimit(ctx.policy.copyConcurrency) };
  const error = await runSteps<SetRun, VmRun>(
    {
      state,
      items: state.vms,
      itemOf: (v) => ({ owner: v.vm.id, label: v.vm.name, failed: v.failed }),
      failItem: (v, step, err) => {
        v.failed = true;
        Object.assign(v.report, { status: 'failed', step, error: { code: err.code, message: err.message } });
      },
      saga: ctx.saga,
      log: state.log,
      signal: state.signal,
      slots: (kind) => (kind === 'copy' ? ctx.copySlots : perSet[kind]),
      beforeStep: (step, vm) => ctx.options.hooks?.beforeStep?.(step, { set: set.index, ...(vm !== undefined && { vm }) }),
      context: { volume: report.volumes.join(',') },
    },
    backupModes[set.mode ?? ctx.policy.mode],
  );
  if (error) {
    report.status = 'failed';
    report.error = { code: error.code, message: error.message, step: error.context.step as string | undefined };
  }
  for (const v of state.vms) v.report.durationMs = Date.now() - v.started;
  if (state.vms.every((v) => v.failed)) report.status = 'failed';
  return { set: report, vms: state.vms.map((v) => v.report) };
}
