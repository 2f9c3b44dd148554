import { HvsnapError } from '../core/errors.js';
import type { CallOptions, Checkpoint, ConsistencyLevel, ReferencePoint } from '../core/types.js';
import type { WmiNodeCalls } from './wmi-node-calls.js';
import { toCheckpoint, toReferencePoint, type WmiFrozenDisk } from './wmi-mapping.js';
import { asArray, type WmiCheckpointAnswer, type WmiConvertAnswer } from './wmi-shapes.js';

/**
 * Msvm_ComputerSystem.OperationalStatus[1] values during which no checkpoint may be taken (MSDOC
 * msvm-computersystem.md; reference §2.4): 32768 creating, 32769 applying, 32770 deleting a
 * checkpoint, 32772 merging disks, 32773 exporting, 32774 migrating. 32771 "Waiting to Start" is not
 * an operation on the VM's storage and does not block a checkpoint (the review; UNCONFIRMED on a host).
 */
export const BUSY_OPERATIONAL_STATUSES = [32768, 32769, 32770, 32772, 32773, 32774];

/** WmiHypervisor.createCheckpoint: a recovery checkpoint on the VM's owner node, named, or removed again. */
export async function createWmiCheckpoint(
  c: WmiNodeCalls,
  args: { vmId: string; name: string; consistency: ConsistencyLevel },
  opts: CallOptions,
  deleteCheckpoint: (args: { vmId: string; checkpointId: string }, opts: CallOptions) => Promise<void>,
): Promise<Checkpoint> {
  return c.onOwner(args.vmId, opts, async (node) => {
    const input = {
      vmId: args.vmId,
      name: args.name,
      busyStatuses: BUSY_OPERATIONAL_STATUSES,
      consistencyLevel: args.consistency === 'application' ? 1 : 2,
      ignoreNonSnapshottableDisks: c.o.ignoreNonSnapshottableDisks,
      guestBackupType: c.o.guestBackupType === 'full' ? 1 : 2,
      waitMs: c.o.jobWaitMs,
    };
    let answer = await c.run<WmiCheckpointAnswer>(node, 'create-checkpoint.ps1', input, opts);
    const ctx = { host: node.name, vm: answer.VmName, applicationConsistency: args.consistency === 'application' };
    if (!answer.Snapshot && answer.Result) {
      const snapshotId = await c.settle(node, answer.Result, ctx, opts, 'Msvm_VirtualSystemSettingData');
      if (!snapshotId) {
        throw new HvsnapError(
          'checkpoint_failed',
          `the CreateSnapshot job for VM ${answer.VmName} on ${node.name} finished without naming the checkpoint it made`,
          {
            context: ctx,
            hint: 'run hvsnap cleanup, and check the VM for an unnamed recovery checkpoint (Get-VMSnapshot -SnapshotType Recovery)',
          },
        );
      }
      answer = await c.run<WmiCheckpointAnswer>(node, 'create-checkpoint.ps1', { ...input, snapshotId }, opts);
    }
    if (!answer.Snapshot)
      throw new HvsnapError('checkpoint_failed', `create-checkpoint.ps1 on ${node.name} returned no checkpoint for VM ${answer.VmName}`, { context: ctx });
    const checkpoint = toCheckpoint(answer.Snapshot, { id: args.vmId, name: answer.VmName }, asArray(answer.VmDisks), args.consistency);
    if (answer.Snapshot.ElementName !== args.name) {
      // The name is the one read back from the host. The snapshot exists but could not be named: an
      // untagged checkpoint is invisible to tag-based cleanup, so remove it now by its instance id.
      const failure = answer.Result
        ? await c.settle(node, answer.Result, ctx, opts).then(
            () => undefined,
            (e: unknown) => e,
          )
        : undefined;
      await deleteCheckpoint({ vmId: args.vmId, checkpointId: checkpoint.id }, {}).catch((e: unknown) =>
        c.logger.error({ vm: answer.VmName, checkpoint: checkpoint.id, err: (e as Error).message }, 'could not remove an unnamed recovery checkpoint'),
      );
      throw failure ?? new HvsnapError('checkpoint_failed', `recovery checkpoint of VM ${answer.VmName} could not be named ${args.name}`, { context: ctx });
    }
    if (answer.Result) c.mustBeDone(answer.Result, ctx);
    for (const d of checkpoint.disks as WmiFrozenDisk[]) {
      if (d.parentPaths)
        c.logger.warn(
          { vm: answer.VmName, disk: d.diskId, parents: d.parentPaths },
          'the frozen disk is a differencing disk (user checkpoints?): the copy must read its parent chain',
        );
    }
    if (answer.Existing) c.logger.info({ vm: answer.VmName, checkpoint: checkpoint.id }, 'recovery checkpoint already existed under this name');
    return { ...checkpoint, name: args.name };
  });
}

/** WmiHypervisor.convertToReferencePoint: the checkpoint turned into a reference point on the VM's owner node. */
export async function convertWmiCheckpoint(c: WmiNodeCalls, args: { checkpoint: Checkpoint }, opts: CallOptions): Promise<ReferencePoint> {
  const cp = args.checkpoint;
  return c.onOwner(cp.vmId, opts, async (node) => {
    const input = { vmId: cp.vmId, snapshotId: cp.id, name: cp.name, waitMs: c.o.jobWaitMs };
    let answer = await c.run<WmiConvertAnswer>(node, 'convert-checkpoint.ps1', input, opts);
    if (!answer.ReferencePoint && answer.Result) {
      const referencePointId = await c.settle(node, answer.Result, { host: node.name, vm: cp.vmName }, opts, 'Msvm_VirtualSystemReferencePoint');
      if (!referencePointId) {
        throw new HvsnapError(
          'reference_point_failed',
          `the ConvertToReferencePoint job for VM ${cp.vmName} on ${node.name} finished without naming the reference point it made`,
          {
            context: { host: node.name, vm: cp.vmName },
          },
        );
      }
      answer = await c.run<WmiConvertAnswer>(node, 'convert-checkpoint.ps1', { ...input, referencePointId }, opts);
    }
    if (answer.Result && answer.ReferencePoint) c.mustBeDone(answer.Result, { host: node.name, vm: cp.vmName });
    if (!answer.ReferencePoint)
      throw new HvsnapError('reference_point_failed', `conversion of ${cp.name} of VM ${cp.vmName} on ${node.name} returned no reference point`, {
        context: { vm: cp.vmName, host: node.name },
      });
    return toReferencePoint(answer.ReferencePoint, asArray(answer.Disks), {
      frozen: cp.disks,
      logger: c.logger,
      vmName: cp.vmName,
      name: cp.name,
      requireRct: true,
    });
  });
}
