import { join } from 'node:path';
import { HvsnapError, errorSummary, isHvsnapError, throwIfAborted, toHvsnapError } from '../core/errors.js';
import type { Checkpoint, ConfigFile, ReferencePoint, VmInfo } from '../core/types.js';
import { rangesBytes } from '../core/ranges.js';
import type { RestorePointManifest } from '../repository/types.js';
import { copyDisk } from '../../proxy/data-mover.js';
import type { Attachment } from '../../proxy/proxy.js';
import { LOCAL_PATH_STYLE, mapSourcePath } from '../../proxy/mount-map.js';
import type { VolumeSet } from './plan.js';
import type { Saga } from './saga.js';
import type { Slots } from './limits.js';
import { runPool } from './pool.js';
import type { BackupEnvironment, BackupOptions, BackupPolicy, DiskReport, SetReport, StepName, VmReport } from './types.js';

interface VmRun {
  vm: VmInfo;
  report: VmReport;
  started: number;
  checkpoint?: Checkpoint;
  /** ms timestamp when the checkpoint was created */
  checkpointAt?: number;
  checkpointUndo?: number;
  config?: ConfigFile[];
  previous?: RestorePointManifest;
  /** disk id → changed ranges since the previous reference point (absent: full) */
  changes: Record<string, { ranges?: import('../core/types.js').ByteRange[]; fullReason?: string }>;
  referencePoint?: ReferencePoint;
  referencePointUndo?: number;
  failed: boolean;
}

export interface SetContext {
  env: BackupEnvironment;
  policy: BackupPolicy;
  options: BackupOptions;
  jobId: string;
  saga: Saga;
  /** open restore point writers by id, so an undo can abort them */
  writers: Map<string, { abort(): Promise<void> }>;
  /** disks copied at once through the proxy, shared by every set of the run */
  copySlots: Slots;
}

/**
 * One volume set through steps 1–8 of DESIGN.md. Set-wide steps (array snapshot, present, attach)
 * fail the set; per-VM steps fail only that VM, whose own side effects are undone at once, so a
 * neighbour's failure never costs a VM its restore point.
 */
export async function backupSet(ctx: SetContext, set: VolumeSet): Promise<{ set: SetReport; vms: VmReport[] }> {
  const { env, policy, saga, jobId } = ctx;
  const log = env.logger.child({ set: set.index });
  const hooks = ctx.options.hooks;
  const signal = ctx.options.signal;
  const setReport: SetReport = {
    index: set.index,
    vms: set.vms.map((v) => v.name),
    volumes: set.volumes.map((v) => v.volumeRoot),
    groups: set.groups,
    consistencyGroup: false,
    status: 'ok',
  };
  const runs: VmRun[] = set.vms.map((vm) => ({ vm, started: Date.now(), changes: {}, failed: false, report: emptyVmReport(vm, set.index) }));
  const live = () => runs.filter((r) => !r.failed);

  /** Per-VM step: a failure undoes that VM's side effects and takes it out of the set. */
  const perVm = async (run: VmRun, step: StepName, fn: () => Promise<void>) => {
    if (run.failed) return;
    try {
      throwIfAborted(signal);
      await hooks?.beforeStep?.(step, { set: set.index, vm: run.vm.name });
      await saga.step(step, { vm: run.vm.name }, fn);
    } catch (e) {
      await failVm(run, step, e);
    }
  };
  const failVm = async (run: VmRun, step: StepName, e: unknown) => {
    run.failed = true;
    const err = toHvsnapError(e, 'step_failed', { step, vm: run.vm.name });
    for (const id of [run.referencePointUndo, run.checkpointUndo]) {
      if (id === undefined) continue;
      await saga.undoNow(id).catch((u) => err.suppressed.push(u));
    }
    Object.assign(run.report, { status: 'failed', step, error: { code: err.code, message: err.message } });
    log.error({ vm: run.vm.name, step, error: errorSummary(err) }, `VM ${run.vm.name} failed at ${step}`);
  };
  const setStep = async <T>(step: StepName, fn: () => Promise<T>): Promise<T> => {
    await hooks?.beforeStep?.(step, { set: set.index });
    return saga.step(step, { volume: setReport.volumes.join(',') }, fn);
  };

  // 1. recovery checkpoints of every VM in the set
  await runPool(runs, policy.checkpointConcurrency, (run) =>
    perVm(run, 'checkpoint', async () => {
      run.started = Date.now();
      const name = `hvsnap:${jobId}`;
      const create = (consistency: Checkpoint['consistency']) =>
        env.hypervisor.createCheckpoint({ vmId: run.vm.id, name, consistency }, { signal }).catch(async (e) => {
          await removeOrphanCheckpoint(ctx, run.vm.id, name);
          throw e;
        });
      let checkpoint: Checkpoint;
      try {
        checkpoint = await create(policy.consistency);
      } catch (e) {
        if (!(isHvsnapError(e) && e.code === 'app_consistency_failed' && policy.consistency === 'application' && policy.allowCrashConsistent)) throw e;
        log.warn({ vm: run.vm.name, reason: e.message }, `VM ${run.vm.name}: application-consistent checkpoint failed; falling back to crash-consistent`);
        checkpoint = await create('crash');
        run.report.fellBack = true;
      }
      run.checkpoint = checkpoint;
      run.checkpointAt = Date.now(); // the checkpoint exists from here: its lifetime is measured from now
      run.report.consistency = checkpoint.consistency;
      run.checkpointUndo = await saga.register({ kind: 'deleteCheckpoint', vmId: run.vm.id, vmName: run.vm.name, checkpointId: checkpoint.id });
    }),
  );
  if (live().length === 0) return finish();
  await hooks?.onCheckpoints?.(live().map((r) => r.checkpoint!));

  try {
    // 2. ONE array snapshot of the set's volumes
    let snapshotUndo: number | undefined;
    const snapshotName = `hvsnap-${jobId}-s${set.index}`;
    const volumes = await setStep('snapshot', async () => {
      const vols = await env.provider.resolveVolumes({ identities: set.volumes.map((v) => v.identity) }, { signal });
      const cg = vols.length > 1;
      if (cg && !env.provider.capabilities.consistencyGroups) {
        throw new HvsnapError('unsupported', `volume set ${set.index} spans ${vols.length} volumes (${setReport.volumes.join(', ')}) but provider ${env.provider.name} cannot snapshot several volumes at one point in time`, { context: { provider: env.provider.name } });
      }
      const max = env.provider.capabilities.maxVolumesPerGroup;
      if (cg && max !== undefined && vols.length > max) {
        throw new HvsnapError('unsupported', `volume set ${set.index} spans ${vols.length} volumes; provider ${env.provider.name} groups at most ${max}`, { context: { provider: env.provider.name } });
      }
      // journaled first: a create that fails late (a timeout) may still have made the snapshot; deleting a missing one succeeds
      snapshotUndo = await saga.register({ kind: 'deleteSnapshot', name: snapshotName });
      const snap = await env.provider.createSnapshot({ name: snapshotName, volumeIds: vols.map((v) => v.id), consistencyGroup: cg }, { signal });
      setReport.snapshot = snap.name;
      setReport.consistencyGroup = snap.consistencyGroup;
      return vols;
    });
    log.info({ snapshot: snapshotName, volumes: volumes.length }, 'array snapshot taken');

    // 3. configuration-only export; 4. changed ranges while the checkpoints still exist
    await runPool(live(), policy.checkpointConcurrency, async (run) => {
      await perVm(run, 'export', async () => {
        run.config = await env.hypervisor.exportConfiguration({ checkpoint: run.checkpoint! }, { signal });
      });
      if (policy.mode === 'offload') await perVm(run, 'changed-ranges', () => readChanges(ctx, run));
    });

    if (policy.mode === 'snapshot-only') {
      // the array snapshot holds every frozen disk: the checkpoints go now, no reference point is needed
      await runPool(live(), policy.checkpointConcurrency, (run) =>
        perVm(run, 'delete-checkpoint', async () => {
          await saga.undoNow(run.checkpointUndo!);
          run.checkpointUndo = undefined;
          run.report.checkpointLifetimeMs = Date.now() - run.checkpointAt!;
        }),
      );
      await runPool(live(), policy.copyConcurrency, (run) => commitSnapshotOnly(ctx, set, run, snapshotName, perVm));
      // retained: the committed restore points own the snapshot now (retention deletes it with the last of them)
      if (live().length > 0 && snapshotUndo !== undefined) await saga.settle(snapshotUndo);
      await cleanupSet();
      return finish();
    }

    // 5. convert each checkpoint into a reference point: the checkpoints end here
    await runPool(live(), policy.checkpointConcurrency, (run) =>
      perVm(run, 'convert', async () => {
        run.referencePoint = await env.hypervisor.convertToReferencePoint({ checkpoint: run.checkpoint! }, { signal });
        run.report.checkpointLifetimeMs = Date.now() - run.checkpointAt!;
        await saga.settle(run.checkpointUndo!);
        run.checkpointUndo = undefined;
        run.referencePointUndo = await saga.register({ kind: 'deleteReferencePoint', vmId: run.vm.id, vmName: run.vm.name, referencePointId: run.referencePoint.id });
      }),
    );
    if (live().length === 0) {
      await cleanupSet();
      return finish();
    }

    // 6. present the snapshot to the proxy and attach it read-only
    const presentationName = `${snapshotName}-p`;
    const presentation = await setStep('present', async () => {
      await saga.register({ kind: 'unpresent', name: presentationName });
      return env.provider.present({ name: presentationName, snapshotName, host: env.proxyHost }, { signal });
    });
    const attachment = await setStep('attach', async () => {
      await saga.register({ kind: 'detach', presentationName });
      return env.proxy.attach({ presentation }, { signal });
    });

    // 7. copy every disk into the repository; a restore point per VM, committed when durable
    await Promise.all(live().map((run) => ctx.copySlots.use(() => copyVm(ctx, set, run, attachment, snapshotName, perVm))));
  } catch (e) {
    // a set-wide step failed: every VM still in the set fails with it
    const err = await saga.fail(e);
    for (const run of live()) {
      run.failed = true;
      Object.assign(run.report, { status: 'failed', step: err.context.step, error: { code: err.code, message: err.message } });
    }
    setReport.status = 'failed';
    setReport.error = { code: err.code, message: err.message, step: err.context.step as string | undefined };
    log.error({ error: errorSummary(err) }, `volume set ${set.index} failed at ${String(err.context.step)}`);
    return finish();
  }

  // 8. detach, unpresent, delete the snapshot: all registered undos of the set
  await cleanupSet();
  // the superseded reference points go only now, after the new restore points are committed
  for (const run of live()) {
    const old = run.previous?.referencePointId;
    if (old && old !== run.referencePoint?.id) {
      await env.hypervisor.deleteReferencePoint({ vmId: run.vm.id, referencePointId: old }, { signal }).catch((e) =>
        log.warn({ vm: run.vm.name, error: errorSummary(e) }, `could not delete superseded reference point ${old}`),
      );
    }
  }
  return finish();

  async function cleanupSet() {
    const failures = await saga.compensate();
    if (failures.length) log.error({ failures: failures.map(errorSummary) }, 'cleanup of the volume set left something behind; see the job journal');
  }
  function finish() {
    for (const r of runs) r.report.durationMs = Date.now() - r.started;
    if (runs.every((r) => r.failed)) setReport.status = 'failed';
    return { set: setReport, vms: runs.map((r) => r.report) };
  }
}

/** Step 4: which disks can be incremental, and their changed ranges. */
async function readChanges(ctx: SetContext, run: VmRun): Promise<void> {
  const { env, policy } = ctx;
  const all = (reason: string) => {
    for (const d of run.checkpoint!.disks) run.changes[d.diskId] = { fullReason: reason };
  };
  const previous = await env.repository.latestRestorePoint(run.vm.id);
  if (!previous?.referencePointId) return all('no earlier restore point with a reference point');
  const rps = await env.hypervisor.listReferencePoints({ vmId: run.vm.id }, { signal: ctx.options.signal });
  if (!rps.some((rp) => rp.id === previous.referencePointId)) return all(`reference point ${previous.referencePointId} no longer exists on the host`);
  // known even for a forced full: the new reference point supersedes it, and it is deleted after the commit
  run.previous = previous;
  if (policy.forceFull) return all('a full backup was asked for');
  for (const disk of run.checkpoint!.disks) {
    const before = previous.disks.find((d) => d.diskId === disk.diskId);
    if (!before?.rctId) run.changes[disk.diskId] = { fullReason: 'the disk is new since the last restore point' };
    else if (before.virtualDiskId.toLowerCase() !== disk.virtualDiskId.toLowerCase()) run.changes[disk.diskId] = { fullReason: 'the VHDX was replaced (virtual disk id changed)' };
    else if (before.virtualSize !== disk.sizeBytes) run.changes[disk.diskId] = { fullReason: 'the disk was resized' };
    else {
      try {
        const ranges = await env.hypervisor.changedRanges({ checkpoint: run.checkpoint!, diskId: disk.diskId, sinceRctId: before.rctId }, { signal: ctx.options.signal });
        run.changes[disk.diskId] = { ranges };
      } catch (e) {
        if (!(isHvsnapError(e) && e.code === 'rct_invalid')) throw e;
        env.logger.warn({ vm: run.vm.name, disk: disk.diskId, reason: e.message }, 'change tracking cannot answer; this disk is copied in full');
        run.changes[disk.diskId] = { fullReason: e.message };
      }
    }
  }
}

/** Step 7 for one VM: copy its disks, store its configuration, commit its restore point. */
async function copyVm(
  ctx: SetContext,
  set: VolumeSet,
  run: VmRun,
  attachment: Attachment,
  snapshotName: string,
  perVm: (run: VmRun, step: StepName, fn: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const { env, policy, saga, jobId } = ctx;
  const hooks = ctx.options.hooks;
  let writer: Awaited<ReturnType<typeof env.repository.beginRestorePoint>> | undefined;
  let writerUndo: number | undefined;
  const disks: RestorePointManifest['disks'] = [];
  await perVm(run, 'copy', async () => {
    writer = await env.repository.beginRestorePoint({ jobId, vmId: run.vm.id, vmName: run.vm.name });
    ctx.writers.set(writer.id, writer);
    writerUndo = await saga.register({ kind: 'abortRestorePoint', restorePointId: writer.id });
    for (const disk of run.checkpoint!.disks) {
      // the checkpoint's frozen base, on one of the set's volumes; the data mover runs here, so the mount is a local path
      const file = mapSourcePath({ attachment, volumes: set.volumes, sourcePath: disk.path, style: LOCAL_PATH_STYLE });
      const change = run.changes[disk.diskId] ?? {};
      const previousIndex = change.ranges && run.previous ? await env.repository.readIndex(run.previous.id, disk.diskId) : undefined;
      const result = await copyDisk({
        file,
        repository: env.repository,
        changedRanges: previousIndex ? change.ranges : undefined,
        previous: previousIndex,
        expectedVirtualDiskId: disk.virtualDiskId,
        // a differencing disk's parents are on the snapshotted volumes too: find them under the mounts
        resolveParent: (hostPath) => {
          try {
            return mapSourcePath({ attachment, volumes: set.volumes, sourcePath: hostPath, style: LOCAL_PATH_STYLE });
          } catch {
            return undefined;
          }
        },
        concurrency: policy.readConcurrency,
        throttleBytesPerSec: policy.throttleBytesPerSec,
        signal: ctx.options.signal,
        onProgress: (doneBytes, totalBytes) => ctx.options.onProgress?.({ vm: run.vm.name, disk: disk.diskId, doneBytes, totalBytes }),
        afterChunk: hooks?.onChunk ? (index) => hooks.onChunk!({ vm: run.vm.name, disk: disk.diskId, index }) : undefined,
      });
      const idx = await writer.writeIndex(disk.diskId, result.index);
      const rct = run.referencePoint!.disks.find((d) => d.diskId === disk.diskId);
      disks.push({
        diskId: disk.diskId,
        virtualDiskId: result.virtualDiskId,
        sourcePath: disk.path,
        virtualSize: result.index.virtualSize,
        rctId: rct?.virtualDiskId.toLowerCase() === disk.virtualDiskId.toLowerCase() ? rct.rctId : undefined,
        mode: result.mode,
        bytesRead: result.bytesRead,
        bytesWritten: result.bytesWritten,
        chunksNew: result.chunksNew,
        chunksReused: result.chunksReused,
        indexSha256: idx.sha256,
      });
      const report: DiskReport = {
        diskId: disk.diskId,
        mode: result.mode,
        fullReason: result.mode === 'full' ? change.fullReason : undefined,
        virtualSize: result.index.virtualSize,
        changedBytes: change.ranges ? rangesBytes(change.ranges) : undefined,
        bytesRead: result.bytesRead,
        bytesWritten: result.bytesWritten,
        chunksNew: result.chunksNew,
        chunksReused: result.chunksReused,
      };
      run.report.disks.push(report);
      for (const k of ['bytesRead', 'bytesWritten', 'chunksNew', 'chunksReused'] as const) run.report[k] += report[k];
    }
    for (const f of run.config ?? []) await writer.writeConfigFile(join('config', f.name).split('\\').join('/'), f.data);
  });
  await perVm(run, 'commit', async () => {
    const manifest = await writer!.commit({
      jobId,
      vm: { id: run.vm.id, name: run.vm.name, host: run.vm.host, configVersion: run.vm.configVersion, generation: run.vm.generation },
      createdAt: run.checkpoint!.createdAt,
      mode: 'offload',
      consistency: run.checkpoint!.consistency,
      referencePointId: run.referencePoint!.id,
      parentId: run.previous?.id,
      arraySnapshots: [{ provider: env.provider.name, name: snapshotName, retained: false }],
      disks,
      configFiles: (run.config ?? []).map((f) => `config/${f.name}`),
      timings: { checkpointLifetimeMs: run.report.checkpointLifetimeMs ?? 0, copyMs: Date.now() - run.started },
    });
    run.report.restorePointId = manifest.id;
    // committed: the restore point and the new reference point are now permanent
    await saga.settle(writerUndo!);
    await saga.settle(run.referencePointUndo!);
    run.referencePointUndo = undefined;
  });
  if (run.failed && writerUndo !== undefined) await abortWriter(ctx, run, writerUndo);
}

/** Snapshot-only: the restore point is the configuration plus where each disk is in the retained snapshot. */
async function commitSnapshotOnly(
  ctx: SetContext,
  set: VolumeSet,
  run: VmRun,
  snapshotName: string,
  perVm: (run: VmRun, step: StepName, fn: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const { env, saga, jobId } = ctx;
  let writer: Awaited<ReturnType<typeof env.repository.beginRestorePoint>> | undefined;
  let writerUndo: number | undefined;
  await perVm(run, 'commit', async () => {
    writer = await env.repository.beginRestorePoint({ jobId, vmId: run.vm.id, vmName: run.vm.name });
    ctx.writers.set(writer.id, writer);
    writerUndo = await saga.register({ kind: 'abortRestorePoint', restorePointId: writer.id });
    for (const f of run.config ?? []) await writer.writeConfigFile(`config/${f.name}`.split('\\').join('/'), f.data);
    const manifest = await writer.commit({
      jobId,
      vm: { id: run.vm.id, name: run.vm.name, host: run.vm.host, configVersion: run.vm.configVersion, generation: run.vm.generation },
      createdAt: run.checkpoint!.createdAt,
      mode: 'snapshot-only',
      consistency: run.checkpoint!.consistency,
      arraySnapshots: [{ provider: env.provider.name, name: snapshotName, retained: true }],
      disks: [],
      snapshotDisks: run.checkpoint!.disks.map((d) => {
        const loc = set.disks[`${run.vm.id}/${d.diskId}`];
        return { diskId: d.diskId, virtualDiskId: d.virtualDiskId, sourcePath: d.path, virtualSize: d.sizeBytes, volume: { identity: loc.identity, volumeRoot: loc.volumeRoot }, relativePath: loc.relativePath };
      }),
      configFiles: (run.config ?? []).map((f) => `config/${f.name}`),
      timings: { checkpointLifetimeMs: run.report.checkpointLifetimeMs ?? 0 },
    });
    run.report.restorePointId = manifest.id;
    await saga.settle(writerUndo);
  });
  if (run.failed && writerUndo !== undefined) await abortWriter(ctx, run, writerUndo);
}

/** Removes a failed VM's uncommitted restore point; a failure stays journaled and is logged. */
async function abortWriter(ctx: SetContext, run: VmRun, undo: number): Promise<void> {
  await ctx.saga.undoNow(undo).catch((e) => ctx.env.logger.error({ vm: run.vm.name, error: errorSummary(e) }, `could not remove the uncommitted restore point of VM ${run.vm.name}`));
}

/** After a failed create: a checkpoint with our name may exist all the same (the call timed out late). */
async function removeOrphanCheckpoint(ctx: SetContext, vmId: string, name: string): Promise<void> {
  try {
    const { checkpoints } = await ctx.env.hypervisor.listLeftovers({ tagPrefix: name });
    for (const cp of checkpoints.filter((c) => c.vmId === vmId && c.name === name)) await ctx.env.hypervisor.deleteCheckpoint({ vmId, checkpointId: cp.id });
  } catch (e) {
    ctx.env.logger.error({ vmId, checkpoint: name, error: errorSummary(e) }, 'could not check for a checkpoint left by a failed create; "hvsnap cleanup" removes it');
  }
}

function emptyVmReport(vm: VmInfo, set: number): VmReport {
  return { vm: vm.name, vmId: vm.id, set, status: 'ok', disks: [], bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0, durationMs: 0 };
}
