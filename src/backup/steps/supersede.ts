import { errorSummary } from '../../core/errors.js';
import type { VmStep } from './step.js';

/**
 * After the commit: the reference point of the previous restore point is superseded by the new
 * one and deleted. Only now, so that a failed backup never costs the next one its incremental
 * base. A failure is a warning: the VM's restore point stands.
 */
export const supersedeStep: VmStep = {
  name: 'supersede',
  scope: 'vm',
  slots: 'host',
  async run(set, vm) {
    const old = vm.previous?.referencePointId;
    if (!old || old === vm.referencePoint?.id) return;
    await set.env.hypervisor
      .deleteReferencePoint({ vmId: vm.vm.id, referencePointId: old }, { signal: set.signal })
      .catch((e) => set.log.warn({ vm: vm.vm.name, error: errorSummary(e) }, `could not delete superseded reference point ${old}`));
  },
};
