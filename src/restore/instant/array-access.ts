import type { CallOptions } from '../../core/types.js';
import type { HostLun } from '../../hyperv/instant-host.js';
import { HvsnapError } from '../../core/errors.js';
import type { Provider, SnapshotHandle } from '../../../providers/sdk/provider.js';

/**
 * The one place instant restore talks to the array: present a writable copy of a kept snapshot
 * to a Hyper-V host, and take it away again. (Kept small on purpose: the provider contract is
 * about to present to a host's initiators with targets and handles; only this file changes then.)
 */
export interface PresentedClone {
  name: string;
  /** per LUN: the source volume's identity (to find a disk's volume) and the LUN as the host sees it */
  luns: Array<{ sourceIdentityId: string; lun: HostLun }>;
}

/**
 * Presents a copy of the kept snapshot to `hostName`. Idempotent by `name`. The snapshot is found by
 * the handle the backup stored in the manifest; a manifest from before handles names it only.
 */
export async function presentCloneToHost(
  provider: Provider,
  args: { name: string; snapshotName: string; handle?: unknown; hostName: string },
  opts: CallOptions = {},
): Promise<PresentedClone> {
  const handle =
    (args.handle as SnapshotHandle | undefined) ??
    (await provider.listSnapshots({ prefix: args.snapshotName }, opts)).find((s) => s.name === args.snapshotName);
  if (!handle)
    throw new HvsnapError('not_found', `array snapshot ${args.snapshotName} is gone from provider "${provider.name}"`, {
      context: { snapshot: args.snapshotName },
    });
  const p = await provider.present({ name: args.name, snapshot: handle, host: { name: args.hostName } }, opts);
  return { name: p.name, luns: p.luns.map((l) => ({ sourceIdentityId: l.sourceIdentity.id.toLowerCase(), lun: { identity: l.identity, path: l.path } })) };
}

/** Unpresents and deletes the copy. Succeeds when it is already gone. */
export async function removeClone(provider: Provider, args: { name: string }, opts: CallOptions = {}): Promise<void> {
  await provider.unpresent({ name: args.name }, opts);
}
