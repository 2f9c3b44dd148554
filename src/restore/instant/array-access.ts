import type { CallOptions } from '../../core/types.js';
import type { HostLun } from '../../hyperv/instant-host.js';
import type { Provider } from '../../../providers/sdk/provider.js';

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

/** Presents a copy of `snapshotName` to `hostName`. Idempotent by `name`. */
export async function presentCloneToHost(
  provider: Provider,
  args: { name: string; snapshotName: string; hostName: string },
  opts: CallOptions = {},
): Promise<PresentedClone> {
  const p = await provider.present({ name: args.name, snapshotName: args.snapshotName, host: { name: args.hostName } }, opts);
  return { name: p.name, luns: p.luns.map((l) => ({ sourceIdentityId: l.sourceIdentity.id.toLowerCase(), lun: { identity: l.identity, path: l.path } })) };
}

/** Unpresents and deletes the copy. Succeeds when it is already gone. */
export async function removeClone(provider: Provider, args: { name: string }, opts: CallOptions = {}): Promise<void> {
  await provider.unpresent({ name: args.name }, opts);
}
