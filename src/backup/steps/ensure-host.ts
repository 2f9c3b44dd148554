import type { Logger } from '../../core/logger.js';
import type { HostHandle } from '../../../providers/sdk/provider.js';
import type { BackupEnvironment, BackupPolicy } from '../types.js';
import type { SetStep } from './step.js';

/** What the host steps need and leave; a backup's set and a snapshot-only restore both have it. */
export interface HostRun {
  readonly env: Pick<BackupEnvironment, 'provider' | 'proxyHost'>;
  readonly policy: Pick<BackupPolicy, 'keepHosts'>;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** what find-host saw before ensure-host: `known` false when the provider cannot look hosts up */
  hostBefore?: { known: boolean; found?: HostHandle };
  /** the proxy's host object on the array (ensure-host) */
  host?: HostHandle;
}

/**
 * Before present (step 6): looks the proxy's host object up on the array, read only, where the
 * provider can (`findHost`). What it finds, or that there is none, decides what ensure-host
 * journals before it makes a host: see {@link ensureHostStep}.
 */
export const findHostStep: SetStep<HostRun> = {
  name: 'find-host',
  scope: 'set',
  async run(set) {
    const { provider, proxyHost } = set.env;
    set.hostBefore = provider.findHost ? { known: true, found: await provider.findHost({ host: proxyHost }, { signal: set.signal }) } : { known: false };
  },
};

/**
 * Then the proxy's host object on the array: the one find-host found, or made (the driver
 * serializes this per array). A host this run made is removed when the set ends, unless
 * `policy.keepHosts`; a host found is never touched.
 *
 * Journaled before: the array can make the host and the process die before the answer is
 * journaled (or the answer can be lost and a retry told "already exists"). When find-host saw no
 * host for these initiators, the record says so, and `hvsnap cleanup` removes the host it then
 * finds: it can only be this run's. When the provider cannot look hosts up, nothing can tell, and
 * the record only says what to check. The record is refined to the host's handle once made.
 */
export const ensureHostStep: SetStep<HostRun> = {
  name: 'ensure-host',
  scope: 'set',
  undo: {
    journaled: 'before',
    record: (set) =>
      set.hostBefore?.found
        ? undefined
        : { kind: 'removeHostIfMade', spec: set.env.proxyHost, absentBefore: !!set.hostBefore?.known, remove: !set.policy.keepHosts },
    refine: (set) => ({
      kind: 'removeHost',
      host: set.host!,
      created: set.host!.created && !set.policy.keepHosts,
      ...(set.host!.created && set.policy.keepHosts && { kept: true }),
    }),
  },
  async run(set) {
    const found = set.hostBefore?.found;
    if (found) {
      set.host = found;
      return;
    }
    const host = await set.env.provider.ensureHost({ host: set.env.proxyHost }, { signal: set.signal });
    // none was there a moment ago: one there now is this run's, though the array said "already
    // exists" (our own create whose answer was lost, retried) or another run on this proxy beat us
    // to it (its removal is then refused while it has LUNs mapped: wrong_state, and the host stays)
    const ours = host.created || !!set.hostBefore?.known;
    if (ours && !host.created)
      set.log.warn({ host: host.name }, 'no host for the proxy was on the array before this run asked for one: it is taken as made by this run');
    set.host = { ...host, created: ours };
    if (ours) set.log.info({ host: host.name }, set.policy.keepHosts ? 'host made on the array (kept: keepHosts)' : 'host made on the array for this run');
  },
};
