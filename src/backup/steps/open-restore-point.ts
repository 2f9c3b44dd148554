import type { VmStep } from './step.js';

/**
 * Opens the VM's restore point writer and stores its configuration files in it. Until the commit,
 * the restore point is a temporary folder; its undo aborts it (after a crash, gc removes it).
 */
export const openRestorePointStep: VmStep = {
  name: 'open-restore-point',
  scope: 'vm',
  slots: 'copy',
  undo: { journaled: 'after', record: (_set, vm) => ({ kind: 'abortRestorePoint', restorePointId: vm.writer!.id }) },
  async run(set, vm) {
    const writer = await set.env.repository.beginRestorePoint({ jobId: set.jobId, vmId: vm.vm.id, vmName: vm.vm.name });
    vm.writer = writer;
    set.writers.set(writer.id, writer);
    for (const f of vm.config ?? []) await writer.writeConfigFile(configPath(f.name), f.data);
  },
};

/** Where a configuration file is kept in a restore point: `config/<name>`, `/`-separated. */
export function configPath(name: string): string {
  return `config/${name}`.split('\\').join('/');
}
