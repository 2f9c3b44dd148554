import { setTimeout as sleep } from 'node:timers/promises';
import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { throwIfAborted } from '../../src/core/errors.js';
import { countInFlight } from '../../src/core/inflight-counter.js';
import type {
  ArrayVolume,
  HostHandle,
  HostSpec,
  Presentation,
  ProbeResult,
  Provider,
  ProviderCapabilities,
  SnapshotHandle,
  SnapshotSet,
} from '../sdk/provider.js';
import type { LabArrayClient, LabPresentationRecord, LabSnapshotRecord } from './client.js';
import { injectedFault, labError } from './errors.js';
import { fitName, type NameRule } from '../sdk/name-rules.js';

/** Lab folder names: letters, digits and `._:-`, at most 120 characters (the lab client's own check allows 201). */
const LAB_NAMES: NameRule = { what: 'lab object', maxLength: 120, allowed: /[A-Za-z0-9._:-]/, replacement: '-', first: /[A-Za-z0-9]/ };

export interface LabProviderOptions {
  /** array operations that fail, for tests: e.g. `['createSnapshot']` */
  failOn: string[];
  /** array operations that take this long (ms) before they run, for tests of stopping: e.g. `{ deleteSnapshot: 3000 }` */
  delayMs?: Partial<Record<string, number>>;
  /** what a presentation is: the snapshot's folders, or NTFS disk images of them */
  presentAs: 'folder' | 'ntfs-image';
}

/** The lab array as a Provider. */
export function createLabProviderInstance(client: LabArrayClient, options: LabProviderOptions): Provider {
  const capabilities: ProviderCapabilities = {
    consistencyGroups: true,
    presentation: options.presentAs === 'folder' ? 'direct' : 'copy',
    readOnlyPresentation: true,
    transports: ['folder'],
  };
  /** An operation's injected delay, then its injected failure: a call already made is not called back (no signal) */
  const fault = async (op: string) => {
    const ms = options.delayMs?.[op];
    if (ms) await sleep(ms);
    if (options.failOn.includes(op)) throw injectedFault(op);
  };
  /** The lab's folder name for a caller's name (folders take letters, digits, `._:-`); checked again as a guard against path tricks. */
  const checkName = (name: string, field: string): string => {
    const folder = fitName(name, LAB_NAMES).replace(/\.{2,}/g, '.');
    if (!client.isSafeName(folder)) throw labError('invalid', `invalid ${field} "${name}"`, { field });
    return folder;
  };

  return {
    name: 'lab',
    capabilities,

    async probe(_args, opts?: CallOptions): Promise<ProbeResult> {
      throwIfAborted(opts?.signal);
      const volumes = await client.listVolumes();
      return { vendor: 'hvsnap lab array', model: 'folders', version: '1', capabilities, details: { volumes: volumes.length } };
    },

    async checkSnapshot(args: { volumeIds: string[] }, opts?: CallOptions): Promise<void> {
      throwIfAborted(opts?.signal);
      const all = await client.listVolumes();
      for (const id of args.volumeIds) if (!all.some((x) => x.id === id)) throw labError('not_found', `no lab volume ${id}`, { volume: id });
    },

    // the lab presents to a host by name only: its host objects are the names themselves
    async ensureHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle> {
      throwIfAborted(opts?.signal);
      checkName(args.host.name, 'host name');
      return { id: args.host.name, name: args.host.name, created: false };
    },

    async findHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle | undefined> {
      throwIfAborted(opts?.signal);
      checkName(args.host.name, 'host name');
      return { id: args.host.name, name: args.host.name, created: false };
    },

    async removeHost(_args: { host: HostHandle }, opts?: CallOptions): Promise<void> {
      throwIfAborted(opts?.signal);
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]> {
      throwIfAborted(opts?.signal);
      const volumes = await client.listVolumes();
      return args.identities.map((identity) => {
        const v = volumes.find((x) => x.identity.id.toLowerCase() === identity.id.toLowerCase());
        if (!v) throw labError('not_found', `no lab volume has identity ${identity.kind}.${identity.id}`, { volume: identity.id });
        return { id: v.id, name: v.id, identity: v.identity };
      });
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotSet> {
      throwIfAborted(opts?.signal);
      const name = checkName(args.name, 'snapshot name');
      const existing = await client.getSnapshot(name);
      if (existing) return { ...sameNameSet(existing, args.volumeIds), name: args.name };
      await fault('createSnapshot');
      if (args.volumeIds.length === 0) throw labError('invalid', 'a snapshot needs at least one volume', { field: 'volumeIds' });
      const all = await client.listVolumes();
      const volumes = args.volumeIds.map((id) => {
        const v = all.find((x) => x.id === id);
        if (!v) throw labError('not_found', `no lab volume ${id}`, { volume: id });
        return v;
      });
      try {
        return { ...toSet(await client.createSnapshot(name, volumes, args.consistencyGroup && volumes.length > 1)), name: args.name };
      } catch (e) {
        // a concurrent create of the same name won the rename: that set is the answer
        const winner = await client.getSnapshot(name);
        if (winner) return { ...sameNameSet(winner, args.volumeIds), name: args.name };
        throw e;
      }
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotSet[]> {
      throwIfAborted(opts?.signal);
      return (await client.listSnapshots()).filter((s) => !args.prefix || s.name.startsWith(args.prefix)).map(toSet);
    },

    async deleteSnapshot(args: { name: string; handle?: SnapshotHandle }, opts?: CallOptions): Promise<void> {
      throwIfAborted(opts?.signal);
      const name = checkName(args.name, 'snapshot name');
      await fault('deleteSnapshot');
      const existing = await client.getSnapshot(name);
      // a handle names one snapshot: a later set that reused the name is not it
      if (existing && args.handle && existing.id !== args.handle.id) return;
      for (const p of await client.listPresentations()) if (p.snapshotName === name) await client.deletePresentation(p.name);
      await client.deleteSnapshot(name);
    },

    async present(args: { name: string; snapshot: SnapshotHandle; host: HostSpec }, opts?: CallOptions): Promise<Presentation> {
      throwIfAborted(opts?.signal);
      const name = checkName(args.name, 'presentation name');
      const existing = await client.getPresentation(name);
      if (existing) return toPresentation(existing, args.name);
      await fault('present');
      const snapshot = await client.getSnapshot(checkName(args.snapshot.name, 'snapshot name'));
      if (!snapshot || snapshot.id !== args.snapshot.id)
        throw labError('not_found', `no lab snapshot ${args.snapshot.name} with id ${args.snapshot.id}`, { snapshot: args.snapshot.name });
      return toPresentation(await client.createPresentation(name, snapshot, args.host.name, options.presentAs), args.name);
    },

    async unpresent(args: { name: string }, opts?: CallOptions): Promise<void> {
      throwIfAborted(opts?.signal);
      const name = checkName(args.name, 'presentation name');
      await fault('unpresent');
      await client.deletePresentation(name);
    },
  };
}

/** Create-by-name: the same name for the same volumes is the same set; for other volumes it is a conflict. */
function sameNameSet(existing: LabSnapshotRecord, volumeIds: string[]): SnapshotSet {
  const want = [...volumeIds].sort().join(',');
  const have = existing.volumes
    .map((v) => v.volumeId)
    .sort()
    .join(',');
  if (want !== have) {
    throw labError('already_exists', `snapshot ${existing.name} exists for volumes ${have}, not ${want}`, { snapshot: existing.name });
  }
  return toSet(existing);
}

function toSet(s: LabSnapshotRecord): SnapshotSet {
  return {
    name: s.name,
    id: s.id,
    consistencyGroup: s.consistencyGroup,
    createdAt: s.createdAt,
    volumes: s.volumes.map((v) => ({ volumeId: v.volumeId, snapshotId: v.snapshotId })),
  };
}

function toPresentation(p: LabPresentationRecord, name: string): Presentation {
  // the lab's LUNs are local paths (folders, or disk images for the Linux proxy): the target is this machine
  return { name, snapshotName: p.snapshotName, host: p.host, target: { transport: 'folder' }, luns: p.luns.map((l) => ({ ...l })) };
}

/**
 * The array calls a per-array limit governs (see limitProvider), counted in flight under `array` in
 * `file` across processes where that file exists (tests create it to read the array's own peak).
 */
export function countedArray(p: Provider, file: string): Provider {
  const counted: Provider = Object.create(p);
  for (const m of ['resolveVolumes', 'createSnapshot', 'listSnapshots', 'deleteSnapshot', 'present', 'unpresent'] as const) {
    const original = (p[m] as (...a: unknown[]) => Promise<unknown>).bind(p);
    (counted as unknown as Record<string, unknown>)[m] = (args: unknown, opts?: unknown) => countInFlight(file, 'array', () => original(args, opts));
  }
  return counted;
}
