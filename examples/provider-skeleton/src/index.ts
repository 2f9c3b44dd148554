/**
 * A minimal hvsnap provider for a vendor to copy. It drives an in-memory array (./memory-array.ts);
 * replace that with your array's REST client. Everything the conformance suite checks is here:
 * idempotency by name, "missing is fine" deletes, work by the snapshot handle (the array's ids),
 * a presentation target, host lifecycle, portable error kinds, declared capabilities, honouring the
 * abort signal. Run the suite: `npm test`.
 *
 * This package's default export (or `provider` export) is the definition; users write
 * `provider: { name: <your package name>, config: {...} }` in their job configuration.
 */
import { randomBytes } from 'node:crypto';
import { defineProvider, providerError, throwIfAborted, z } from 'hvsnap/sdk';
import type { CallOptions, HostHandle, HostSpec, Presentation, Provider, SnapshotHandle, VolumeIdentity } from 'hvsnap/sdk';
import { memoryArray, type MemoryArray, type MemorySnapshot } from './memory-array.js';

/** 1. The config, validated before any I/O; zod messages name the field. Secrets go in keys named *password*, *token*, *secret*, so they are redacted. */
export const skeletonConfigSchema = z
  .object({
    /** which in-memory array (stands for the management URL) */
    array: z.string().min(1),
    /** stands for your credential; never logged */
    apiToken: z.string().min(1).optional(),
  })
  .strict();

/** 2. The factory: build the client, return the provider. No global registry, no side effects. */
export const skeletonProvider = defineProvider({
  name: 'skeleton',
  configSchema: skeletonConfigSchema,
  create: (config) => createSkeletonProvider(memoryArray(config.array)),
});
export default skeletonProvider;

const fail = (kind: Parameters<typeof providerError>[0], message: string, volume?: string) =>
  providerError(kind, message, { provider: 'skeleton', context: { volume } });

/** 3. The provider: one args object plus `{signal}` per method. */
export function createSkeletonProvider(array: MemoryArray): Provider {
  const toSet = (s: MemorySnapshot): SnapshotHandle => ({
    name: s.name,
    id: s.id,
    consistencyGroup: s.cg,
    createdAt: s.createdAt,
    volumes: s.members.map((m) => ({ volumeId: m.volumeId, snapshotId: m.snapshotId })),
  });
  const naa = (id: string): VolumeIdentity => ({ kind: 'naa', id });

  return {
    name: 'skeleton',
    // Declare what the array can do; the suite skips what is not declared.
    capabilities: { consistencyGroups: true, presentation: 'copy', readOnlyPresentation: true, maxVolumesPerGroup: 64, transports: ['iscsi'] },

    async probe(_args, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      return { vendor: 'Example Corp', model: 'in-memory', version: '1' };
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      return args.identities.map((identity) => {
        const v = [...array.volumes.values()].find((x) => x.naa === identity.id.toLowerCase());
        if (!v) throw fail('not_found', `no volume has identity ${identity.kind}.${identity.id}`, identity.id);
        return { id: v.id, name: v.name, identity: naa(v.naa), sizeBytes: v.sizeBytes };
      });
    },

    // Preconditions, checked before anything is made anywhere: here, only that the volumes exist.
    async checkSnapshot(args: { volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      for (const id of args.volumeIds) if (!array.volumes.has(id)) throw fail('not_found', `no volume ${id}`, id);
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      // Idempotent by name: the same name returns the same set; another volume list under it is already_exists.
      const existing = array.snapshots.get(args.name);
      if (existing) {
        const same =
          existing.members
            .map((m) => m.volumeId)
            .sort()
            .join() === [...args.volumeIds].sort().join();
        if (!same) throw fail('already_exists', `snapshot set ${args.name} exists for other volumes`);
        return toSet(existing);
      }
      const members = args.volumeIds.map((id) => {
        if (!array.volumes.has(id)) throw fail('not_found', `no volume ${id}`, id);
        return { volumeId: id, snapshotId: `snap-${randomBytes(4).toString('hex')}`, naa: `6acce551${randomBytes(12).toString('hex')}` };
      });
      const s: MemorySnapshot = {
        name: args.name,
        id: `set-${randomBytes(4).toString('hex')}`,
        createdAt: new Date().toISOString(),
        cg: args.consistencyGroup && members.length > 1,
        members,
      };
      array.snapshots.set(s.name, s);
      return toSet(s);
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      return [...array.snapshots.values()].filter((s) => s.name.startsWith(args.prefix ?? '')).map(toSet);
    },

    async deleteSnapshot(args: { name: string; handle?: SnapshotHandle }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      // By the handle's id when there is one: a later set that reused the name is not this one. A missing one is fine.
      const s = [...array.snapshots.values()].find((x) => (args.handle ? x.id === args.handle.id : x.name === args.name));
      if (!s) return;
      if ([...array.mappings.values()].some((m) => m.snapshotId === s.id)) throw fail('busy', `snapshot set ${s.name} is presented; unpresent it first`);
      array.snapshots.delete(s.name);
    },

    // The array's host object for these initiators, found or made; your array may need its initiators normalized (see normalizeWwpn).
    async ensureHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle> {
      throwIfAborted(opts?.signal);
      const created = !array.hosts.has(args.host.name);
      array.hosts.add(args.host.name);
      return { id: args.host.name, name: args.host.name, created };
    },

    async removeHost(args: { host: HostHandle }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      if ([...array.mappings.values()].some((m) => m.host === args.host.id)) throw fail('wrong_state', `host ${args.host.name} still has LUNs mapped`);
      array.hosts.delete(args.host.id);
    },

    // By the handle (the array's ids), never by a name scan. Each presentation is its own copy with its own identity.
    async present(args: { name: string; snapshot: SnapshotHandle; host: HostSpec }, opts?: CallOptions): Promise<Presentation> {
      throwIfAborted(opts?.signal);
      const s = [...array.snapshots.values()].find((x) => x.id === args.snapshot.id);
      if (!s) throw fail('not_found', `no snapshot set ${args.snapshot.name} (${args.snapshot.id})`);
      const host = await this.ensureHost({ host: args.host }, opts);
      const m = array.mappings.get(args.name) ?? {
        name: args.name,
        snapshotId: s.id,
        snapshotName: s.name,
        host: host.id,
        luns: s.members.map((x, i) => ({ volumeId: x.volumeId, lun: i + 1, naa: `6acce552${randomBytes(12).toString('hex')}` })),
      };
      array.mappings.set(m.name, m);
      return {
        name: m.name,
        snapshotName: m.snapshotName,
        host: m.host,
        // what the proxy needs to find exactly these LUNs
        target: { transport: 'iscsi', portals: ['192.0.2.40:3260'], iqns: ['iqn.2026-01.com.example:array1'] },
        luns: m.luns.map((l) => ({ volumeId: l.volumeId, sourceIdentity: naa(array.volumes.get(l.volumeId)!.naa), identity: naa(l.naa), lun: l.lun })),
      };
    },

    async unpresent(args: { name: string }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      array.mappings.delete(args.name);
    },
  };
}
