import type { SetStep } from './step.js';

/**
 * Step 6 (before present): the proxy's host object on the array — found by its initiators or made
 * (the driver serializes this per array). A host hvsnap made is removed when the set ends, unless
 * `policy.keepHosts`; a host it found is never touched. Journaled after: only the call tells whether
 * it made one.
 */
export const ensureHostStep: SetStep = {
  name: 'ensure-host',
  scope: 'set',
  undo: {
    journaled: 'after',
    record: (set) => ({
      kind: 'removeHost',
      host: set.host!,
      created: set.host!.created && !set.policy.keepHosts,
      ...(set.host!.created && set.policy.keepHosts && { kept: true }),
    }),
  },
  async run(set) {
    set.host = await set.env.provider.ensureHost({ host: set.env.proxyHost }, { signal: set.signal });
    if (set.host.created)
      set.log.info({ host: set.host.name }, set.policy.keepHosts ? 'host made on the array (kept: keepHosts)' : 'host made on the array for this run');
  },
};
