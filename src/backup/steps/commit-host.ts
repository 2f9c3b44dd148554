import { manifestFields } from './commit.js';
import type { VmStep } from './step.js';

/** Host mode's commit: the copied disks and the reference point, no array snapshot. */
export const commitHostStep: VmStep = {
  name: 'commit',
  scope: 'vm',
  slots: 'copy',
  settles: ['open-restore-point', 'convert'],
  async run(set, vm) {
    const manifest = await vm.writer!.commit({
      ...manifestFields(set, vm),
      mode: 'host',
      referencePointId: vm.referencePoint!.id,
      parentId: vm.previous?.id,
      arraySnapshots: [],
      disks: vm.disks,
      timings: { checkpointLifetimeMs: vm.report.checkpointLifetimeMs ?? 0, copyMs: Date.now() - vm.started },
    });
    vm.report.restorePointId = manifest.id;
  },
};
