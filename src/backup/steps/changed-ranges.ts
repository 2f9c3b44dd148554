import { isHvsnapError } from '../../core/errors.js';
import type { VmStep } from './step.js';

/**
 * Step 4: which disks can be incremental, and their changed ranges since the previous restore
 * point's reference point, read while the checkpoint still exists.
 */
export const changedRangesStep: VmStep = {
  name: 'changed-ranges',
  scope: 'vm',
  slots: 'host',
  async run(set, vm) {
    const { env, policy } = set;
    const disks = vm.checkpoint!.disks;
    const allFull = (reason: string) => {
      for (const d of disks) vm.changes[d.diskId] = { fullReason: reason };
    };
    const previous = await env.repository.latestRestorePoint(vm.vm.id);
    if (!previous?.referencePointId) return allFull('no earlier restore point with a reference point');
    const rps = await env.hypervisor.listReferencePoints({ vmId: vm.vm.id }, { signal: set.signal });
    if (!rps.some((rp) => rp.id === previous.referencePointId)) return allFull(`reference point ${previous.referencePointId} no longer exists on the host`);
    // known even for a forced full: the new reference point supersedes it, and it is deleted after the commit
    vm.previous = previous;
    if (policy.forceFull) return allFull('a full backup was asked for');
    for (const disk of disks) {
      const before = previous.disks.find((d) => d.diskId === disk.diskId);
      if (!before?.rctId) vm.changes[disk.diskId] = { fullReason: 'the disk is new since the last restore point' };
      else if (before.virtualDiskId.toLowerCase() !== disk.virtualDiskId.toLowerCase())
        vm.changes[disk.diskId] = { fullReason: 'the VHDX was replaced (virtual disk id changed)' };
      else if (before.virtualSize !== disk.sizeBytes) vm.changes[disk.diskId] = { fullReason: 'the disk was resized' };
      else {
        try {
          const ranges = await env.hypervisor.changedRanges(
            { checkpoint: vm.checkpoint!, diskId: disk.diskId, sinceRctId: before.rctId },
            { signal: set.signal },
          );
          vm.changes[disk.diskId] = { ranges };
        } catch (e) {
          if (!(isHvsnapError(e) && e.code === 'rct_invalid')) throw e;
          env.logger.warn({ vm: vm.vm.name, disk: disk.diskId, reason: e.message }, 'change tracking cannot answer; this disk is copied in full');
          vm.changes[disk.diskId] = { fullReason: e.message };
        }
      }
    }
  },
};
