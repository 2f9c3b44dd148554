import { HvsnapError } from '../../core/errors.js';
import { waitForSnapshotReady } from '../../../providers/sdk/snapshot-ready.js';
import type { SetStep } from './step.js';

/**
 * Step 2: ONE array snapshot of the set's volumes, a consistency group when there are several.
 * Its undo is journaled before the create: a create that fails late (a timeout) may still have
 * made the snapshot, and deleting a missing one succeeds.
 */
export const snapshotStep: SetStep = {
  name: 'snapshot',
  scope: 'set',
  undo: {
    journaled: 'before',
    record: (set) => ({ kind: 'deleteSnapshot', name: set.names.snapshot }),
    // once created, the undo deletes by the array's ids
    refine: (set) => (set.snapshot ? { kind: 'deleteSnapshot', name: set.names.snapshot, handle: set.snapshot } : undefined),
  },
  async run(set) {
    const { provider } = set.env;
    const where = set.report.volumes.join(', ');
    const volumes = await provider.resolveVolumes({ identities: set.set.volumes.map((v) => v.identity) }, { signal: set.signal });
    const group = volumes.length > 1;
    if (group && !provider.capabilities.consistencyGroups) {
      throw new HvsnapError(
        'unsupported',
        `volume set ${set.set.index} spans ${volumes.length} volumes (${where}) but provider ${provider.name} cannot snapshot several volumes at one point in time`,
        { context: { provider: provider.name } },
      );
    }
    const max = provider.capabilities.maxVolumesPerGroup;
    if (group && max !== undefined && volumes.length > max) {
      throw new HvsnapError('unsupported', `volume set ${set.set.index} spans ${volumes.length} volumes; provider ${provider.name} groups at most ${max}`, {
        context: { provider: provider.name },
      });
    }
    const snap = await provider.createSnapshot(
      { name: set.names.snapshot, volumeIds: volumes.map((v) => v.id), consistencyGroup: group },
      { signal: set.signal },
    );
    set.volumes = volumes;
    set.snapshot = snap;
    // a copy that completes in the background (SnapVX, FlashCopy) is waited for while the checkpoints still exist
    if (snap.ready === false) {
      await waitForSnapshotReady({
        provider,
        handle: snap,
        signal: set.signal,
        onProgress: (progress) => set.log.info({ snapshot: snap.name, progress }, 'array snapshot copying'),
      });
    }
    set.report.snapshot = snap.name;
    set.report.consistencyGroup = snap.consistencyGroup;
    set.log.info({ snapshot: snap.name, volumes: volumes.length }, 'array snapshot taken');
  },
};
