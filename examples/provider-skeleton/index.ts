/**
 * A minimal hvsnap provider for a vendor to copy. It drives an in-memory array (./memory-array.ts);
 * replace that with your array's REST client. Everything the conformance suite checks is here:
 * idempotency by name, "missing is fine" deletes, portable error kinds, declared capabilities,
 * honouring the abort signal. Run the suite: `npx vitest run test/providers/skeleton-conformance.test.ts`.
 *
 * Package it as an npm package whose default export (or `provider` export) is this definition;
 * users then write `provider: <your package name>` in their config.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { throwIfAborted } from '../../src/core/errors.js';
import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { defineProvider } from '../../providers/sdk/define-provider.js';
import { providerError } from '../../providers/sdk/errors.js';
import type { Presentation, Provider, ProxyHost, SnapshotSet } from '../../providers/sdk/provider.js';
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
  const toSet = (s: MemorySnapshot): SnapshotSet => ({
    name: s.name, id: s.id, consistencyGroup: s.cg, createdAt: s.createdAt,
    volumes: s.members.map((m) => ({ volumeId: m.volumeId, snapshotId: m.snapshotId })),
  });
  const naa = (id: string): VolumeIdentity => ({ kind: 'naa', id });

  return {
    name: 'skeleton',
    // Declare what the array can do; the suite skips what is not declared.
    capabilities: { consistencyGroups: true, presentation: 'direct', readOnlyPresentation: true, maxVolumesPerGroup: 64 },

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

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      // Idempotent by name: the same name returns the same set; another volume list under it is already_exists.
      const existing = array.snapshots.get(args.name);
      if (existing) {
        const same = existing.members.map((m) => m.volumeId).sort().join() === [...args.volumeIds].sort().join();
        if (!same) throw fail('already_exists', `snapshot set ${args.name} exists for other volumes`);
        return toSet(existing);
      }
      const members = args.volumeIds.map((id) => {
        if (!array.volumes.has(id)) throw fail('not_found', `no volume ${id}`, id);
        return { volumeId: id, snapshotId: `snap-${randomBytes(4).toString('hex')}`, naa: `6acce551${randomBytes(12).toString('hex')}` };
      });
      const s: MemorySnapshot = { name: args.name, id: `set-${randomBytes(4).toString('hex')}`, createdAt: new Date().toISOString(), cg: args.consistencyGroup && members.length > 1, members };
      array.snapshots.set(s.name, s);
      return toSet(s);
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      return [...array.snapshots.values()].filter((s) => s.name.startsWith(args.prefix ?? '')).map(toSet);
    },

    async deleteSnapshot(args: { name: string }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      // A snapshot still presented is busy; a missing one is fine.
      if ([...array.mappings.values()].some((m) => m.snapshotName === args.name)) throw fail('busy', `snapshot set ${args.name} is presented; unpresent it first`);
      array.snapshots.delete(args.name);
    },

    async present(args: { name: string; snapshotName: string; host: ProxyHost }, opts?: CallOptions): Promise<Presentation> {
      throwIfAborted(opts?.signal);
      const s = array.snapshots.get(args.snapshotName);
      if (!s) throw fail('not_found', `no snapshot set ${args.snapshotName}`);
      const m = array.mappings.get(args.name) ?? { name: args.name, snapshotName: s.name, host: args.host.name, luns: s.members.map((x, i) => ({ volumeId: x.volumeId, lun: i + 1 })) };
      array.mappings.set(m.name, m);
      return {
        name: m.name, snapshotName: m.snapshotName, host: m.host,
        luns: s.members.map((x, i) => ({ volumeId: x.volumeId, sourceIdentity: naa(array.volumes.get(x.volumeId)!.naa), identity: naa(x.naa), lun: m.luns[i]!.lun })),
      };
    },

    async unpresent(args: { name: string }, opts?: CallOptions) {
      throwIfAborted(opts?.signal);
      array.mappings.delete(args.name);
    },
  };
}
