import { errorSummary } from '../../core/errors.js';
import type { VmRun, VmStep } from './step.js';

/** The reference point the new one supersedes, if any. */
function superseded(vm: VmRun): string | undefined {
  const old = vm.previous?.referencePointId;
  return old && old !== vm.referencePoint?.id ? old : undefined;
}

/**
 * After the commit: the reference point of the previous restore point is superseded by the new
 * one and deleted. Only now, so that a failed backup never costs the next one its incremental
 * base. The deletion is journaled before it is made (as a record that "undoes" the supersession:
 * deleting the old reference point), so a process killed here leaves it to `hvsnap cleanup`,
 * which completes it; the runner replays the record at the end too, which is idempotent. A failure
 * is a warning: the VM's restore point stands, and cleanup removes what is left.
 */
export const supersedeStep: VmStep = {
  name: 'supersede',
  scope: 'vm',
  slots: 'host',
  undo: {
    journaled: 'before',
    record: (_set, vm) => {
      const old = superseded(vm);
      return old ? { kind: 'deleteReferencePoint', vmId: vm.vm.id, vmName: vm.vm.name, referencePointId: old } : undefined;
    },
  },
  async run(set, vm) {
    const old = superseded(vm);
    if (!old) return;
    await set.env.hypervisor
      .deleteReferencePoint({ vmId: vm.vm.id, referencePointId: old }, { signal: set.signal })
      .catch((e) =>
        set.log.warn({ vm: vm.vm.name, error: errorSummary(e) }, `could not delete superseded reference point ${old}; "hvsnap cleanup" removes it`),
      );
  },
};
