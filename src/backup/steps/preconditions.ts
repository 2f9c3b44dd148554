import type { SetStep } from './step.js';

/**
 * Step 0: the array's preconditions for the set's snapshot (a volume in a group the array cannot
 * use, a release without consistency groups, volumes in different pods), checked before a checkpoint
 * or a snapshot exists, so a refusal leaves nothing to undo and says why and what to do.
 */
export const preconditionsStep: SetStep = {
  name: 'preconditions',
  scope: 'set',
  async run(set) {
    const { provider } = set.env;
    const volumes = await provider.resolveVolumes({ identities: set.set.volumes.map((v) => v.identity) }, { signal: set.signal });
    await provider.checkSnapshot({ volumeIds: volumes.map((v) => v.id), consistencyGroup: volumes.length > 1 }, { signal: set.signal });
  },
};
