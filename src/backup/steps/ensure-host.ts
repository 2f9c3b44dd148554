import type { Logger } from '../../core/logger.js';
import type { HostHandle } from '../../../providers/sdk/provider.js';
import type { HostLeases } from '../host-leases.js';
import { SET_OWNER, type Saga } from '../saga.js';
import type { BackupEnvironment, BackupPolicy } from '../types.js';
import type { SetStep } from './step.js';

/** What the host steps keep on the run: a backup's set (SetRun) and a snapshot-only restore both have it. */
export interface HostState {
  /** the host as the sets of this process share it (absent: this run is the only user it knows of) */
  readonly hostLeases?: HostLeases;
  /** what find-host saw before ensure-host: `known` false when the provider cannot look hosts up */
  hostBefore?: { known: boolean; found?: HostHandle };
  /** the proxy's host object on the array (ensure-host) */
  host?: HostHandle;
  /** this set's lease on it, given back by ensure-host's undo (host-leases.ts) */
  hostLease?: string;
}

/** What the host steps need and leave. */
export interface HostRun extends HostState {
  readonly env: Pick<BackupEnvironment, 'provider' | 'proxyHost'>;
  /** where ensure-host journals asking the array again for a host it found and this process has since removed (with `hostLeases`) */
  readonly saga?: Pick<Saga, 'register'>;
  readonly policy: Pick<BackupPolicy, 'keepHosts'>;
  readonly log: Logger;
  readonly signal?: AbortSignal;
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
 * Then the proxy's host object on the array: the one a set of this process holds (`hostLeases`),
 * else the one find-host found, else made (the driver serializes this per array). A host this run
 * made (the array said `created`) is removed when the last set of the process using it ends
 * (host-leases.ts), unless `policy.keepHosts`; a host found, or one the array said already exists
 * (another job on this proxy may have made it a moment before), is never touched.
 *
 * Journaled before: the array can make the host and the process die, or the call time out, before
 * the answer comes. That record (`checkHost`) removes nothing: nothing can tell whose the host then
 * is. It has `hvsnap cleanup` (or the rollback) look the host up and name it for the operator,
 * where the provider can look hosts up. It is settled by the answer. A host find-host found is
 * journaled as kept (`removeHost`, not created), and refined like the other: to removed, when it
 * is a host another set of this process made and this set now shares. A host found that this
 * process has removed since (its last user was another set) is asked for again, and that ask is
 * journaled first as a `checkHost` too; the refined record replaces both.
 */
export const ensureHostStep: SetStep<HostRun> = {
  name: 'ensure-host',
  scope: 'set',
  undo: {
    journaled: 'before',
    // a host found is never touched (nothing to check then), unless it is one another set of this
    // process made and still uses: the refined record then removes it with its last user
    record: (set) => {
      const found = set.hostBefore?.found;
      if (found) return { kind: 'removeHost', host: found, created: false };
      return { kind: 'checkHost', spec: set.env.proxyHost, absentBefore: !!set.hostBefore?.known };
    },
    refine: (set) => ({
      kind: 'removeHost',
      host: set.host!,
      created: set.host!.created && !set.policy.keepHosts,
      ...(set.host!.created && set.policy.keepHosts && { kept: true }),
      ...(set.hostLease !== undefined && { lease: set.hostLease }),
    }),
  },
  async run(set) {
    const { provider, proxyHost } = set.env;
    const obtain = async (gone: (id: string) => boolean) => {
      // a host found that this process has removed since is gone: ask the array again
      const found = set.hostBefore?.found;
      if (found && !gone(found.id)) return found;
      // the record journaled before says "found, keep": a host the array makes now, its answer lost, would have no record
      if (found) await set.saga?.register({ kind: 'checkHost', spec: proxyHost, absentBefore: true }, { owner: SET_OWNER, step: 'ensure-host' });
      const host = await provider.ensureHost({ host: proxyHost }, { signal: set.signal });
      if (host.created)
        set.log.info({ host: host.name }, set.policy.keepHosts ? 'host made on the array (kept: keepHosts)' : 'host made on the array for this run');
      return host;
    };
    if (!set.hostLeases) {
      set.host = await obtain(() => false);
      return;
    }
    const { host, lease } = await set.hostLeases.acquire(proxyHost.name, obtain, { keep: set.policy.keepHosts, signal: set.signal });
    set.host = host;
    set.hostLease = lease;
  },
};
