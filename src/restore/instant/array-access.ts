import type { CallOptions } from '../../core/types.js';
import type { HostLun } from '../../hyperv/instant-host.js';
import { HvsnapError } from '../../core/errors.js';
import type { HostSpec, Provider, SnapshotHandle } from '../../../providers/sdk/provider.js';

/**
 * The one place instant restore talks to the array: present a writable copy of a kept snapshot
 * to a Hyper-V host (by the initiators the host reports), and take it away again.
 */
export interface PresentedClone {
  name: string;
  /** per LUN: the source volume's identity (to find a disk's volume) and the LUN as the host sees it */
  luns: Array<{ sourceIdentityId: string; lun: HostLun }>;
}

/**
 * Presents a copy of the kept snapshot to the Hyper-V host `host`: by its initiators, so that the
 * array maps the clone to the host object that holds them (the one it knows the node by for its
 * cluster storage), not to a new, empty one under the node's name that the node would never see.
 * Where no host object holds them the driver makes one, and nothing removes it yet. Idempotent by `name`.
 * The snapshot is found by the handle the backup stored in the manifest; a manifest from before
 * handles names it only.
 */
export async function presentCloneToHost(
  provider: Provider,
  args: { name: string; snapshotName: string; handle?: unknown; host: HostSpec },
  opts: CallOptions = {},
): Promise<PresentedClone> {
  const { host } = args;
  const byName = (provider.capabilities.transports ?? ['iscsi', 'fc']).every((t) => t === 'folder');
  if (!byName && !host.iqns?.length && !host.wwns?.length && !host.nqns?.length)
    throw new HvsnapError(
      'unsupported',
      `${host.name} reports no iSCSI or Fibre Channel initiator (Get-InitiatorPort): provider "${provider.name}" cannot present the clone to it`,
      {
        context: { host: host.name },
        hint: 'connect the host to the array (iSCSI initiator or FC HBA) as for its cluster storage, then run the instant restore again',
      },
    );
  const handle =
    (args.handle as SnapshotHandle | undefined) ??
    (await provider.listSnapshots({ prefix: args.snapshotName }, opts)).find((s) => s.name === args.snapshotName);
  if (!handle)
    throw new HvsnapError('not_found', `array snapshot ${args.snapshotName} is gone from provider "${provider.name}"`, {
      context: { snapshot: args.snapshotName },
    });
  const p = await provider.present({ name: args.name, snapshot: handle, host }, opts);
  return { name: p.name, luns: p.luns.map((l) => ({ sourceIdentityId: l.sourceIdentity.id.toLowerCase(), lun: { identity: l.identity, path: l.path } })) };
}

/** Unpresents and deletes the copy. Succeeds when it is already gone. */
export async function removeClone(provider: Provider, args: { name: string }, opts: CallOptions = {}): Promise<void> {
  await provider.unpresent({ name: args.name }, opts);
}
