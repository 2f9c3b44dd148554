import { convertStep } from './convert.js';
import type { VmStep } from './step.js';

/**
 * Host mode: the checkpoint becomes the reference point only once its frozen base has been read
 * (it lived for the whole copy). Before the commit, not after: the restore point records the
 * reference point and its RCT ids, which only the conversion returns, so a committed host-mode
 * restore point always has the base its next incremental needs.
 */
export const convertAfterCopyStep: VmStep = {
  ...convertStep,
  async run(set, vm) {
    await convertStep.run(set, vm);
    for (const disk of vm.disks) {
      const rct = vm.referencePoint!.disks.find((d) => d.diskId === disk.diskId);
      // the reference point's RCT id belongs to this disk only when it is the same VHDX
      disk.rctId = rct?.virtualDiskId.toLowerCase() === disk.virtualDiskId.toLowerCase() ? rct.rctId : undefined;
    }
  },
};
