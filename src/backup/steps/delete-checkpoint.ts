import type { VmStep } from './step.js';

/**
 * Snapshot-only, after the export: the array snapshot holds every frozen disk, so the checkpoint
 * goes now (its own undo, run as the normal flow) and no reference point is needed.
 */
export const deleteCheckpointStep: VmStep = {
  name: 'delete-checkpoint',
  scope: 'vm',
  slots: 'host',
  async run(set, vm) {
    for (const id of set.saga.idsOf({ owner: vm.vm.id, step: 'checkpoint' })) await set.saga.undoNow(id);
    vm.report.checkpointLifetimeMs = Date.now() - vm.checkpointAt!;
  },
};
