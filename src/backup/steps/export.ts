import type { VmStep } from './step.js';

/** Step 3: the VM's configuration only, exported from its checkpoint (no disk data). */
export const exportStep: VmStep = {
  name: 'export',
  scope: 'vm',
  slots: 'host',
  async run(set, vm) {
    vm.config = await set.env.hypervisor.exportConfiguration({ checkpoint: vm.checkpoint! }, { signal: set.signal });
  },
};
