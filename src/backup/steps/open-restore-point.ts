import { newRestorePointId } from '../../repository/index.js';
import type { VmRun, VmStep } from './step.js';

/**
 * Opens the VM's restore point writer and stores its configuration files in it. Until the commit,
 * the restore point is a temporary folder. Its id is chosen and its abort journaled before the
 * folder exists: a process killed while it writes the configuration leaves a folder its journal
 * names, which the retry or `hvsnap cleanup` removes (journaled after, it stayed until a gc).
 */
export const openRestorePointStep: VmStep = {
  name: 'open-restore-point',
  scope: 'vm',
  slots: 'copy',
  undo: { journaled: 'before', record: (_set, vm) => ({ kind: 'abortRestorePoint', restorePointId: restorePointIdOf(vm) }) },
  async run(set, vm) {
    const writer = await set.env.repository.beginRestorePoint({ jobId: set.jobId, vmId: vm.vm.id, vmName: vm.vm.name, id: restorePointIdOf(vm) });
    vm.writer = writer;
    for (const f of vm.config ?? []) await writer.writeConfigFile(configPath(f.name), f.data);
  },
};

/** The id of the VM's restore point in this attempt, chosen once. */
function restorePointIdOf(vm: VmRun): string {
  return (vm.restorePointId ??= newRestorePointId(vm.vm.name));
}

/** Where a configuration file is kept in a restore point: `config/<name>`, `/`-separated. */
export function configPath(name: string): string {
  return `config/${name}`.split('\\').join('/');
}
