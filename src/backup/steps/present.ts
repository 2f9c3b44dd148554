import { HvsnapError } from '../../core/errors.js';
import type { Presentation, SnapshotHandle } from '../../../providers/sdk/provider.js';
import type { Mount, VolumeRoot } from '../../../proxy/proxy.js';
import type { BackupEnvironment } from '../types.js';
import type { SetStep } from './step.js';

/** What presenting a snapshot to the proxy and attaching it needs; a backup's set and a restore both have it. */
export interface PresentTarget {
  readonly env: Pick<BackupEnvironment, 'provider' | 'proxy' | 'proxyHost'>;
  readonly names: { readonly snapshot: string; readonly presentation: string };
  /** the source volumes in the snapshot, with their host path roots */
  readonly volumeRoots: readonly VolumeRoot[];
  readonly signal?: AbortSignal;
  /** the array's handle of the snapshot to present (from the snapshot step, or a restore point's manifest) */
  snapshot?: SnapshotHandle;
  presentation?: Presentation;
  mount?: Mount;
}

/**
 * Step 6a: the set's snapshot presented to the proxy host. Journaled before: a present that fails
 * late may have made the presentation; unpresenting a missing one succeeds.
 */
export const presentStep: SetStep<PresentTarget> = {
  name: 'present',
  scope: 'set',
  undo: { journaled: 'before', record: (set) => ({ kind: 'unpresent', name: set.names.presentation }) },
  async run(set) {
    if (!set.snapshot) throw new HvsnapError('internal', `no snapshot handle to present ${set.names.snapshot}`);
    set.presentation = await set.env.provider.present(
      { name: set.names.presentation, snapshot: set.snapshot, host: set.env.proxyHost },
      { signal: set.signal },
    );
  },
};
