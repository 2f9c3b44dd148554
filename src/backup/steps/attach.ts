import type { PresentTarget } from './present.js';
import type { SetStep } from './step.js';

/**
 * Step 6b: the presentation attached to the proxy and mounted read-only; the mount resolves the
 * host paths of the set's volumes. Journaled before: a failed attach may have left devices, and
 * detaching what is not attached succeeds.
 */
export const attachStep: SetStep<PresentTarget> = {
  name: 'attach',
  scope: 'set',
  undo: { journaled: 'before', record: (set) => ({ kind: 'detach', presentationName: set.names.presentation }) },
  async run(set) {
    set.mount = await set.env.proxy.attach({ presentation: set.presentation!, volumes: set.volumeRoots }, { signal: set.signal });
  },
};
