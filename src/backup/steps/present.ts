import type { SetStep } from './step.js';

/**
 * Step 6a: the set's snapshot presented to the proxy host. Journaled before: a present that fails
 * late may have made the presentation; unpresenting a missing one succeeds.
 */
export const presentStep: SetStep = {
  name: 'present',
  scope: 'set',
  undo: { journaled: 'before', record: (set) => ({ kind: 'unpresent', name: set.names.presentation }) },
  async run(set) {
    set.presentation = await set.env.provider.present({ name: set.names.presentation, snapshotName: set.names.snapshot, host: set.env.proxyHost }, { signal: set.signal });
  },
};
