import type { CallOptions } from '../../core/types.js';
import type { HostLun } from '../../hyperv/instant-host.js';
import { HvsnapError } from '../../core/errors.js';
import type { HostHandle, HostSpec, Provider, SnapshotHandle } from '../../../providers/sdk/provider.js';
import { removeHostUnlessMapped, unansweredHostNote } from '../../backup/undo.js';
import { forgetMadeHost, listSessions, madeHostBy, madeHostOf, type InstantSession } from './instant-sessions.js';

/**
 * The one place instant restore talks to the array: the host object of a Hyper-V host, and a
 * writable copy of a kept snapshot presented to it (by the initiators the host reports), and
 * taking both away again.
 */
export interface PresentedClone {
  name: string;
  /** per LUN: the source volume's identity (to find a disk's volume) and the LUN as the host sees it */
  luns: Array<{ sourceIdentityId: string; lun: HostLun }>;
}

/**
 * What the session journals of the Hyper-V host's object on the array: `handle` once known (found,
 * or the array's answer); `absentBefore` when findHost saw none before the array was asked to make it.
 */
export interface NodeHostRecord {
  spec: HostSpec;
  absentBefore?: boolean;
  handle?: HostHandle;
}

/** A folder array (the lab) presents to a host by its name; a SAN array by its initiators, to a host object. */
function presentsByName(provider: Provider): boolean {
  return (provider.capabilities.transports ?? ['iscsi', 'fc']).every((t) => t === 'folder');
}

/** A SAN array cannot present to a host that reports no initiator: refused before anything is made. */
function requireInitiators(provider: Provider, host: HostSpec): void {
  if (!presentsByName(provider) && !host.iqns?.length && !host.wwns?.length && !host.nqns?.length)
    throw new HvsnapError(
      'unsupported',
      `${host.name} reports no iSCSI or Fibre Channel initiator (Get-InitiatorPort): provider "${provider.name}" cannot present the clone to it`,
      {
        context: { host: host.name },
        hint: 'connect the host to the array (iSCSI initiator or FC HBA) as for its cluster storage, then run the instant restore again',
      },
    );
}

/**
 * Before the clone is presented: the host object of the Hyper-V host `host` on a SAN array. The
 * one that holds the host's initiators (the one the array knows the node by for its cluster
 * storage; found by findHost, where the provider can look hosts up) is used as it is; where none
 * does, the array makes one (`ensureHost`, as the proxy's host is made for a backup), and
 * {@link releaseNodeHost} removes it with the clone. Without this, the driver's present made that
 * host itself and nothing removed it. `journal` is called with the host found, or before the array
 * is asked to make one (it can be made and the answer lost, the process killed) and with the answer.
 */
export async function ensureNodeHost(
  provider: Provider,
  host: HostSpec,
  journal: (record: NodeHostRecord) => Promise<void>,
  opts: CallOptions = {},
): Promise<void> {
  requireInitiators(provider, host);
  if (presentsByName(provider)) return;
  const found = await provider.findHost?.({ host }, opts);
  if (found) return journal({ spec: host, handle: { ...found, created: false } });
  await journal({ spec: host, absentBefore: provider.findHost !== undefined });
  await journal({ spec: host, handle: await provider.ensureHost({ host }, opts) });
}

/**
 * Where an instant restore records the host objects it had the array make (instant-sessions.ts,
 * MadeHost): the sessions' folder, the array the session's clone is on, and the session.
 */
export interface MadeHosts {
  dir: string;
  array: string;
  session: string;
}

/**
 * Once the clone is gone: removes the host object {@link ensureNodeHost} had the array make, or
 * one it found that another instant restore had the array make on the same array (`made`: a
 * host stays while another clone is mapped to it, so the last session on it removes it). A host
 * that still has LUNs mapped stays (the array refuses, wrong_state); its record goes with the last
 * session that uses it. While another session that found it is still restoring or ready, the host
 * is left to that one. A host found that no instant restore made is never touched. Where the
 * array was asked and never answered, nothing can tell whether the host it has now was made then
 * or by someone else: removes nothing and returns a note for the operator.
 */
export async function releaseNodeHost(
  provider: Provider,
  record: NodeHostRecord,
  made: MadeHosts | undefined,
  opts: CallOptions = {},
): Promise<string | undefined> {
  // a process killed between recording the host it had the array make and journaling it: the record knows it
  const handle = record.handle ?? (made && (await madeHostBy(made.dir, made.array, made.session))?.host);
  if (handle) {
    const recorded = made && (await madeHostOf(made.dir, made.array, handle));
    if (!handle.created && !recorded) return;
    const others = made ? await othersUsing(made, handle) : [];
    // one that found it and is not ending (maybe not presented yet, so the array would not refuse) removes it at its own end
    if (others.some((s) => s.phase === 'restoring' || s.phase === 'ready')) return;
    const removed = await removeHostUnlessMapped(provider, handle, opts);
    if (made && (removed || others.length === 0)) await forgetMadeHost(made.dir, made.array, handle.id);
    return;
  }
  return unansweredHostNote(
    provider,
    { spec: record.spec, absentBefore: record.absentBefore ?? false, by: 'an instant restore', holder: `${record.spec.name}'s` },
    opts,
  );
}

/**
 * Presents a copy of the kept snapshot to the Hyper-V host `host`: by its initiators, so that the
 * array maps the clone to the host object that holds them ({@link ensureNodeHost}), not to a new,
 * empty one under the node's name that the node would never see. Idempotent by `name`.
 * The snapshot is found by the handle the backup stored in the manifest; a manifest from before
 * handles names it only.
 */
export async function presentCloneToHost(
  provider: Provider,
  args: { name: string; snapshotName: string; handle?: unknown; host: HostSpec },
  opts: CallOptions = {},
): Promise<PresentedClone> {
  requireInitiators(provider, args.host);
  const handle =
    (args.handle as SnapshotHandle | undefined) ??
    (await provider.listSnapshots({ prefix: args.snapshotName }, opts)).find((s) => s.name === args.snapshotName);
  if (!handle)
    throw new HvsnapError('not_found', `array snapshot ${args.snapshotName} is gone from provider "${provider.name}"`, {
      context: { snapshot: args.snapshotName },
    });
  const p = await provider.present({ name: args.name, snapshot: handle, host: args.host }, opts);
  return { name: p.name, luns: p.luns.map((l) => ({ sourceIdentityId: l.sourceIdentity.id.toLowerCase(), lun: { identity: l.identity, path: l.path } })) };
}

/** Unpresents and deletes the copy. Succeeds when it is already gone. */
export async function removeClone(provider: Provider, args: { name: string }, opts: CallOptions = {}): Promise<void> {
  await provider.unpresent({ name: args.name }, opts);
}

/** The sessions other than `made.session`, on the same array, that use host `handle`. */
async function othersUsing(made: MadeHosts, handle: HostHandle): Promise<InstantSession[]> {
  return (await listSessions(made.dir)).filter((s) => s.id !== made.session && s.array === made.array && s.nodeHost?.handle?.id === handle.id);
}
