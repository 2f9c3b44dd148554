import { HvsnapError } from '../../core/errors.js';
import type { VmStep } from './step.js';

/**
 * Host mode: the VM's owner node's files, mounted read-only over SFTP (no array, nothing
 * presented). Nothing outlives the process — the SSH connection is the host shell's — so there is
 * no undo to journal.
 */
export const attachHostStep: VmStep = {
  name: 'attach-host',
  scope: 'vm',
  slots: 'copy',
  async run(set, vm) {
    const mounts = set.env.hostMounts;
    if (!mounts) {
      throw new HvsnapError('unsupported', `VM ${vm.vm.name} needs host mode, but this job has no SSH transport to read ${vm.vm.host}'s files over SFTP`, {
        context: { vm: vm.vm.name, host: vm.vm.host },
        hint: 'host mode needs hypervisor.kind wmi with an ssh transport',
      });
    }
    vm.mount = await mounts.mount({ host: vm.vm.host, bytesPerSec: set.policy.hostReadBytesPerSec }, { signal: set.signal });
  },
};
