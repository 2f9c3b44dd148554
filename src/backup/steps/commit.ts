import type { RestorePointManifest } from '../../repository/types.js';
import { configPath } from './open-restore-point.js';
import type { SetRun, VmRun, VmStep } from './step.js';

/**
 * The VM's restore point committed, once everything in it is durable. Committed, the restore point
 * and the new reference point are permanent: their undos are settled.
 */
export const commitStep: VmStep = {
  name: 'commit',
  scope: 'vm',
  slots: 'copy',
  settles: ['open-restore-point', 'convert'],
  run: (set, vm) =>
    commitCopied(set, vm, 'offload', [{ provider: set.env.provider.name, name: set.names.snapshot, retained: false, handle: { ...set.snapshot } }]),
};

/** Host mode's commit: the copied disks and the reference point, no array snapshot. */
export const commitHostStep: VmStep = { ...commitStep, run: (set, vm) => commitCopied(set, vm, 'host', []) };

/** Commits a restore point whose disks were copied into the repository (offload and host modes). */
async function commitCopied(set: SetRun, vm: VmRun, mode: 'offload' | 'host', arraySnapshots: RestorePointManifest['arraySnapshots']): Promise<void> {
  const manifest = await vm.writer!.commit({
    ...manifestFields(set, vm),
    mode,
    referencePointId: vm.referencePoint!.id,
    parentId: vm.previous?.id,
    arraySnapshots,
    disks: vm.disks,
    timings: { checkpointLifetimeMs: vm.report.checkpointLifetimeMs ?? 0, copyMs: Date.now() - vm.started },
  });
  vm.report.restorePointId = manifest.id;
}

/**
 * Snapshot-only: the restore point is the configuration plus where each disk is in the retained
 * array snapshot.
 */
export const commitSnapshotOnlyStep: VmStep = {
  name: 'commit',
  scope: 'vm',
  slots: 'repository',
  settles: ['open-restore-point'],
  async run(set, vm) {
    const manifest = await vm.writer!.commit({
      ...manifestFields(set, vm),
      mode: 'snapshot-only',
      arraySnapshots: [{ provider: set.env.provider.name, name: set.names.snapshot, retained: true, handle: { ...set.snapshot } }],
      disks: [],
      snapshotDisks: vm.checkpoint!.disks.map((d) => {
        const loc = set.set.disks[`${vm.vm.id}/${d.diskId}`];
        return {
          diskId: d.diskId,
          virtualDiskId: d.virtualDiskId,
          sourcePath: d.path,
          virtualSize: d.sizeBytes,
          volume: { identity: loc.identity, volumeRoot: loc.volumeRoot },
          relativePath: loc.relativePath,
        };
      }),
      timings: { checkpointLifetimeMs: vm.report.checkpointLifetimeMs ?? 0 },
    });
    vm.report.restorePointId = manifest.id;
  },
};

/** The manifest fields both modes write the same way. */
export function manifestFields(set: SetRun, vm: VmRun): Pick<RestorePointManifest, 'jobId' | 'vm' | 'createdAt' | 'consistency' | 'configFiles'> {
  const { id, name, host, configVersion, generation } = vm.vm;
  return {
    jobId: set.jobId,
    vm: { id, name, host, configVersion, generation },
    createdAt: vm.checkpoint!.createdAt,
    consistency: vm.checkpoint!.consistency,
    configFiles: (vm.config ?? []).map((f) => configPath(f.name)),
  };
}
