import type { HostHandle } from '../../providers/sdk/provider.js';

/** What this process holds under a host's name: the host and how many sets use it (`id` once the array answered), or its removal. */
type Held = { users: number; host: Promise<HostHandle>; id?: string } | { removing: Promise<void>; id: string };

/**
 * The proxy's host object on the array, as the sets of one process share it: a backup's sets
 * (`limits.sets` at once) and the sets a worker runs at once all present their snapshots to the
 * same host. The host a run made must go when the last of them is done with it, not when the set
 * that made it ends: a set between its ensure-host and its present would lose it, and the driver's
 * present would make it again where nothing tracks it.
 *
 * So ensure-host takes the host through {@link acquire} (one array call for the first set, the
 * others join it) and the undo of a made host goes through {@link release}: only the last user's
 * release removes it, and a set that asks for the host while it is being removed waits for the
 * removal and asks the array again. Sets of other processes (another job, another worker on the
 * proxy) are not counted here: the drivers refuse to remove a host that still has LUNs mapped.
 */
export class HostLeases {
  private readonly held = new Map<string, Held>();

  /**
   * The host named `name`: the one a set of this process holds (joined: one more user), else the
   * one `obtain` gives, held from now on. `obtain(stale)`: `stale` is true when this process was
   * removing the host a moment ago, so a host looked up before that is gone. A failed `obtain`
   * holds nothing (every set that joined it gets the failure).
   */
  async acquire(name: string, obtain: (stale: boolean) => Promise<HostHandle>): Promise<HostHandle> {
    let stale = false;
    for (;;) {
      const held = this.held.get(name);
      if (held && 'removing' in held) {
        stale = true;
        await held.removing.catch(() => undefined);
        continue;
      }
      if (held) {
        held.users++;
        return held.host;
      }
      const entry: Held = { users: 1, host: obtain(stale) };
      this.held.set(name, entry);
      entry.host.then(
        (h) => (entry.id = h.id),
        () => {
          if (this.held.get(name) === entry) this.held.delete(name);
        },
      );
      return entry.host;
    }
  }

  /**
   * One user is done with `host` (found by the array's id: the array may name it otherwise than the
   * proxy's spec). The last one runs `remove` (the array call), and until it ends a set asking for
   * the host waits. A host this process does not hold is removed at once.
   */
  async release(host: HostHandle, remove: () => Promise<void>): Promise<void> {
    const [name, held] = [...this.held].find(([, h]) => h.id === host.id) ?? [];
    if (held && 'users' in held && --held.users > 0) return;
    const removing = remove();
    if (name === undefined) return removing;
    const entry: Held = { removing, id: host.id };
    this.held.set(name, entry);
    try {
      await removing;
    } finally {
      if (this.held.get(name) === entry) this.held.delete(name);
    }
  }
}
