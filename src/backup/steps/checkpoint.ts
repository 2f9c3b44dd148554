import { errorSummary, isHvsnapError } from '../../core/errors.js';
import type { Checkpoint } from '../../core/types.js';
import { liveVms, type SetRun, type VmRun, type VmStep } from './step.js';

/**
 * Step 1: a recovery checkpoint of the VM, application-consistent when the guest can, else
 * crash-consistent where the policy allows (and the report says so). Its lifetime is measured
 * from here. Once every VM has one, the `onCheckpoints` hook runs.
 */
export const checkpointStep: VmStep = {
  name: 'checkpoint',
  scope: 'vm',
  slots: 'host',
  undo: { journaled: 'after', record: (_set, vm) => ({ kind: 'deleteCheckpoint', vmId: vm.vm.id, vmName: vm.vm.name, checkpointId: vm.checkpoint!.id }) },
  async run(set, vm) {
    const { policy } = set;
    vm.started = Date.now();
    let checkpoint: Checkpoint;
    try {
      checkpoint = await create(set, vm, policy.consistency);
    } catch (e) {
      if (!(isHvsnapError(e) && e.code === 'app_consistency_failed' && policy.consistency === 'application' && policy.allowCrashConsistent)) throw e;
      set.log.warn({ vm: vm.vm.name, reason: e.message }, `VM ${vm.vm.name}: application-consistent checkpoint failed; falling back to crash-consistent`);
      checkpoint = await create(set, vm, 'crash');
      vm.report.fellBack = true;
    }
    vm.checkpoint = checkpoint;
    vm.checkpointAt = Date.now();
    vm.report.consistency = checkpoint.consistency;
  },
  async afterAll(set) {
    await set.options.hooks?.onCheckpoints?.(liveVms(set).map((v) => v.checkpoint!));
  },
};

/** Creates the checkpoint; after a failed create, one with our name may exist all the same (a late timeout): it goes. */
async function create(set: SetRun, vm: VmRun, consistency: Checkpoint['consistency']): Promise<Checkpoint> {
  const name = set.names.checkpoint;
  try {
    return await set.env.hypervisor.createCheckpoint({ vmId: vm.vm.id, name, consistency }, { signal: set.signal });
  } catch (e) {
    await removeOrphanCheckpoint(set, vm.vm.id, name);
    throw e;
  }
}

async function removeOrphanCheckpoint(set: SetRun, vmId: string, name: string): Promise<void> {
  const { hypervisor, logger } = set.env;
  try {
    const { checkpoints } = await hypervisor.listLeftovers({ tagPrefix: name });
    for (const cp of checkpoints.filter((c) => c.vmId === vmId && c.name === name)) await hypervisor.deleteCheckpoint({ vmId, checkpointId: cp.id });
  } catch (e) {
    logger.error({ vmId, checkpoint: name, error: errorSummary(e) }, 'could not check for a checkpoint left by a failed create; "hvsnap cleanup" removes it');
  }
}
