import { randomUUID } from 'node:crypto';
import type { HostHandle } from '../../providers/sdk/provider.js';
import { isAbortError } from '../core/errors.js';

/** One host this process holds: the array's answer, the leases of the sets that use it, and what its last user does. */
interface Held {
  host: Promise<HostHandle>;
  /** the array's id, once it answered */
  id?: string;
  leases: Set<string>;
  /** some user keeps it (policy.keepHosts): it is never removed here */
  keep: boolean;
  /** set by a user whose record says the host was made by hvsnap: the last user runs it (true: the array removed it) */
  remove?: () => Promise<boolean>;
}

/**
 * The proxy's host object on the array, as the sets of one process share it: a backup's sets
 * (`limits.sets` at once) and the sets a worker runs at once all present their snapshots to the
 * same host. A host hvsnap made must go when the last of them is done with it, not when the set
 * that made it ends: a set between its ensure-host and its present would lose it, and the driver's
 * present would make it again where nothing tracks it.
 *
 * ensure-host takes the host through {@link acquire} (one array call for the first set, the others
 * join it) and gets a lease; the undo of every ensure-host gives its lease back ({@link release}),
 * and the last one removes the host if a user's record says hvsnap made it and none keeps it. A set
 * that asks while the host is being removed, or with a host it looked up that this process has since
 * removed, asks the array again. Sets of other processes (another job, another worker on the proxy)
 * are not counted here: the drivers refuse to remove a host that still has LUNs mapped.
 */
export class HostLeases {
  private readonly held = new Map<string, Held>();
  private readonly removing = new Map<string, Promise<void>>();
  /** ids of hosts this process removed: a host looked up earlier with one of them is gone */
  private readonly removed = new Set<string>();

  /**
   * The host named `name`: the one a set of this process holds (joined), else the one `obtain`
   * gives, held from now on; with a lease to give back. `obtain(gone)`: `gone(id)` says whether this
   * process removed the host with that id (a host looked up before is then stale). A failed `obtain`
   * holds nothing: every set that joined it gets the failure, except that a set whose own `signal`
   * is not aborted asks again when the call it joined was aborted (by the signal of the set that made it).
   * @param opts.keep this user keeps the host (policy.keepHosts): it is not removed here
   */
  async acquire(
    name: string,
    obtain: (gone: (id: string) => boolean) => Promise<HostHandle>,
    opts: { keep?: boolean; signal?: AbortSignal } = {},
  ): Promise<{ host: HostHandle; lease: string }> {
    for (;;) {
      for (let r = this.removing.get(name); r; r = this.removing.get(name)) await r.catch(() => undefined);
      let held = this.held.get(name);
      const joined = held !== undefined;
      if (!held) {
        const entry: Held = { host: obtain((id) => this.removed.has(id)), leases: new Set(), keep: false };
        this.held.set(name, entry);
        entry.host.then(
          (h) => (entry.id = h.id),
          () => {
            if (this.held.get(name) === entry) this.held.delete(name);
          },
        );
        held = entry;
      }
      const lease = randomUUID();
      held.leases.add(lease);
      held.keep ||= !!opts.keep;
      try {
        return { host: await held.host, lease };
      } catch (e) {
        held.leases.delete(lease);
        if (joined && isAbortError(e) && !opts.signal?.aborted) continue;
        throw e;
      }
    }
  }

  /**
   * The undo of a host record: gives `record.lease` back. `remove` (the array call) is given where
   * the record says hvsnap made the host: the last user runs it, unless a user keeps the host.
   * A record whose lease this process does not hold (a lost attempt's, replayed by a worker) removes
   * its host at once, unless a set here holds that host: then its last user removes it. `remove`
   * answers false when the array kept the host (still mapped for a set of another process): a set
   * here that looked that host up still has it.
   */
  async release(record: { host: HostHandle; lease?: string }, remove?: () => Promise<boolean>): Promise<void> {
    const byLease = record.lease === undefined ? undefined : [...this.held].find(([, h]) => h.leases.has(record.lease!));
    if (!byLease) {
      if (!remove) return;
      const holder = [...this.held.values()].find((h) => h.id === record.host.id);
      if (holder) holder.remove ??= remove;
      else await this.run(undefined, record.host.id, remove);
      return;
    }
    const [name, held] = byLease;
    held.leases.delete(record.lease!);
    if (remove) held.remove ??= remove;
    if (held.leases.size > 0) return;
    this.held.delete(name);
    if (held.remove && !held.keep) await this.run(name, held.id!, held.remove);
  }

  private async run(name: string | undefined, id: string, remove: () => Promise<boolean>): Promise<void> {
    const removing = remove().then((gone) => void (gone && this.removed.add(id)));
    if (name !== undefined) this.removing.set(name, removing);
    try {
      await removing;
    } finally {
      if (name !== undefined && this.removing.get(name) === removing) this.removing.delete(name);
    }
  }
}
