import type { VmStep } from './step.js';

/**
 * Step 5: the checkpoint becomes a reference point (Hyper-V merges it): the checkpoint's life ends
 * here, seconds after step 1, and before any disk byte is copied.
 */
export const convertStep: VmStep = {
  name: 'convert',
  scope: 'vm',
  slots: 'host',
  settles: ['checkpoint'],
  undo: {
    journaled: 'after',
    record: (_set, vm) => ({ kind: 'deleteReferencePoint', vmId: vm.vm.id, vmName: vm.vm.name, referencePointId: vm.referencePoint!.id }),
  },
  async run(set, vm) {
    vm.referencePoint = await set.env.hypervisor.convertToReferencePoint({ checkpoint: vm.checkpoint! }, { signal: set.signal });
    vm.report.checkpointLifetimeMs = Date.now() - vm.checkpointAt!;
  },
};
