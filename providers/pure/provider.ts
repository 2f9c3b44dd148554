import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { pureIdentityFromSerial, pureSerialFromIdentity } from '../sdk/disk-identity.js';
import { providerError } from '../sdk/errors.js';
import type { ArrayVolume, Presentation, Provider, ProviderCapabilities, ProxyHost, SnapshotSet } from '../sdk/provider.js';
import type { PureArray, PureClient, PureConnection, PureHost, PurePgroupSnapshot, PureVolume, PureVolumeSnapshot } from './client.js';

export interface PureProviderOptions {
  /** eradicate (DELETE) after destroy (PATCH destroyed:true); false leaves objects recoverable until the array eradicates them */
  eradicate: boolean;
}

/** Protection groups this driver makes are named `hvsnap-<snapshot name>`; one per consistency-group set. */
const PG_PREFIX = 'hvsnap-';
const quote = (s: string) => `'${s.replace(/'/g, '')}'`;

/**
 * The Pure FlashArray provider. A snapshot set named S is either the volume snapshots `V.S` (one
 * `POST /volume-snapshots` for all volumes) or, for a consistency group of several volumes, the
 * protection-group snapshot `hvsnap-S.S` of a protection group `hvsnap-S` holding the volumes (its
 * members are `hvsnap-S.S.V`). Snapshots are not presentable: `present` copies each to a new
 * volume `P-<i>` and connects it to the host; `unpresent` disconnects, destroys and (per policy)
 * eradicates the copies.
 */
export function createPureProvider(client: PureClient, options: PureProviderOptions): Provider {
  const capabilities: ProviderCapabilities = { consistencyGroups: true, presentation: 'copy', readOnlyPresentation: false };

  async function volumesByName(names: string[], signal?: AbortSignal): Promise<Map<string, PureVolume>> {
    const items = await client.list<PureVolume>('/volumes', { names: names.join(','), destroyed: false }, signal);
    return new Map(items.map((v) => [v.name, v]));
  }

  async function pgroupSet(pg: PurePgroupSnapshot, signal?: AbortSignal): Promise<SnapshotSet> {
    const group = pg.source?.name ?? pg.name.slice(0, pg.name.lastIndexOf('.'));
    const suffix = pg.suffix ?? pg.name.slice(group.length + 1);
    const members = await client.list<{ member?: { name?: string } }>('/protection-groups/volumes', { group_names: group }, signal);
    const names = members.map((m) => m.member?.name).filter((n): n is string => !!n).sort();
    return {
      name: suffix, id: pg.name, consistencyGroup: true, createdAt: isoTime(pg.created),
      volumes: names.map((v) => ({ volumeId: v, snapshotId: `${pg.name}.${v}` })),
    };
  }

  /** Volume snapshots taken for a set (not the members of a pgroup snapshot), grouped by suffix. */
  function volumeSets(snaps: PureVolumeSnapshot[]): SnapshotSet[] {
    const bySuffix = new Map<string, PureVolumeSnapshot[]>();
    for (const s of snaps) {
      const source = s.source?.name;
      const suffix = s.suffix ?? s.name.slice(s.name.indexOf('.') + 1);
      if (!source || s.name !== `${source}.${suffix}`) continue; // a pgroup member: PG.S.V
      bySuffix.set(suffix, [...(bySuffix.get(suffix) ?? []), s]);
    }
    return [...bySuffix].map(([suffix, list]) => {
      const sorted = list.sort((a, b) => a.name.localeCompare(b.name));
      return {
        name: suffix, id: sorted.map((s) => s.name).join(','), consistencyGroup: sorted.length > 1, createdAt: isoTime(sorted[0]!.created),
        volumes: sorted.map((s) => ({ volumeId: s.source!.name!, snapshotId: s.name })),
      };
    });
  }

  async function findSet(name: string, signal?: AbortSignal): Promise<SnapshotSet | undefined> {
    const pgs = await client.list<PurePgroupSnapshot>('/protection-group-snapshots', { filter: `name=${quote(`${PG_PREFIX}${name}.${name}`)}`, destroyed: false }, signal);
    if (pgs[0]) return pgroupSet(pgs[0], signal);
    const snaps = await client.list<PureVolumeSnapshot>('/volume-snapshots', { filter: `suffix=${quote(name)}`, destroyed: false }, signal);
    return volumeSets(snaps).find((s) => s.name === name);
  }

  async function ensureHost(host: ProxyHost, signal?: AbortSignal): Promise<string> {
    const byInitiator: Array<[string, string | undefined]> = [['iqns', host.iqns?.[0]], ['wwns', host.wwns?.[0]], ['nqns', host.nqns?.[0]]];
    for (const [field, value] of byInitiator) {
      if (!value) continue;
      const found = await client.list<PureHost>('/hosts', { filter: `${field}=${quote(value)}` }, signal);
      if (found[0]) return found[0].name;
    }
    await client.writeTolerating('already_exists', {
      method: 'POST', path: '/hosts', query: { names: host.name }, idempotent: true, signal,
      body: { ...(host.iqns?.length ? { iqns: host.iqns } : {}), ...(host.wwns?.length ? { wwns: host.wwns } : {}), ...(host.nqns?.length ? { nqns: host.nqns } : {}) },
    });
    return host.name;
  }

  async function destroy(path: string, names: string[], signal?: AbortSignal): Promise<void> {
    if (!names.length) return;
    await client.writeTolerating('not_found', { method: 'PATCH', path, query: { names: names.join(',') }, body: { destroyed: true }, idempotent: true, signal });
    if (options.eradicate) await client.writeTolerating('not_found', { method: 'DELETE', path, query: { names: names.join(',') }, signal });
  }

  const copyPattern = (name: string) => new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d+$`);

  return {
    name: 'pure',
    capabilities,

    async probe(_args, opts?: CallOptions) {
      const arrays = await client.list<PureArray>('/arrays', {}, opts?.signal);
      const a = arrays[0] ?? {};
      return { vendor: 'Pure Storage', model: a.os ?? 'FlashArray', version: a.version, details: { array: a.name ?? '' } };
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]> {
      const out: ArrayVolume[] = [];
      for (const identity of args.identities) {
        const serial = pureSerialFromIdentity(identity);
        const found = serial ? await client.list<PureVolume>('/volumes', { filter: `serial=${quote(serial)}`, destroyed: false }, opts?.signal) : [];
        const v = found[0];
        if (!v) throw providerError('not_found', `no Pure volume has identity ${identity.kind}.${identity.id}${serial ? ` (serial ${serial})` : ' (not a Pure NAA id: 624a9370 + serial)'}`, { provider: 'pure', context: { volume: identity.id } });
        out.push({ id: v.name, name: v.name, identity: pureIdentityFromSerial(v.serial), sizeBytes: v.provisioned });
      }
      return out;
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotSet> {
      const signal = opts?.signal;
      const existing = await findSet(args.name, signal);
      if (existing) return sameVolumes(existing, args.volumeIds);
      if (args.consistencyGroup && args.volumeIds.length > 1) {
        const pg = `${PG_PREFIX}${args.name}`;
        await client.writeTolerating('already_exists', { method: 'POST', path: '/protection-groups', query: { names: pg }, idempotent: true, signal });
        await client.writeTolerating('already_exists', { method: 'POST', path: '/protection-groups/volumes', query: { group_names: pg, member_names: args.volumeIds.join(',') }, idempotent: true, signal });
        await client.writeTolerating('already_exists', { method: 'POST', path: '/protection-group-snapshots', query: { source_names: pg }, body: { suffix: args.name }, idempotent: true, signal });
      } else {
        // one call for all volumes: Pure takes them at one point in time
        await client.writeTolerating('already_exists', { method: 'POST', path: '/volume-snapshots', query: { source_names: args.volumeIds.join(',') }, body: { suffix: args.name }, idempotent: true, signal });
      }
      const made = await findSet(args.name, signal);
      if (!made) throw providerError('transient', `snapshot set ${args.name} was created but is not listed`, { provider: 'pure', context: { snapshot: args.name } });
      return made;
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotSet[]> {
      const prefix = args.prefix ?? '';
      const pgs = await client.list<PurePgroupSnapshot>('/protection-group-snapshots', { filter: `name=${quote(`${PG_PREFIX}${prefix}*`)}`, destroyed: false }, opts?.signal);
      const sets: SnapshotSet[] = [];
      for (const pg of pgs) {
        const set = await pgroupSet(pg, opts?.signal);
        if (pg.name === `${PG_PREFIX}${set.name}.${set.name}` && set.name.startsWith(prefix)) sets.push(set);
      }
      const snaps = await client.list<PureVolumeSnapshot>('/volume-snapshots', { filter: `suffix=${quote(`${prefix}*`)}`, destroyed: false }, opts?.signal);
      return [...sets, ...volumeSets(snaps).filter((s) => s.name.startsWith(prefix))];
    },

    async deleteSnapshot(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const set = await findSet(args.name, signal);
      const pg = `${PG_PREFIX}${args.name}`;
      if (set?.consistencyGroup && set.id === `${pg}.${args.name}`) await destroy('/protection-group-snapshots', [set.id], signal);
      else if (set) await destroy('/volume-snapshots', set.volumes.map((v) => v.snapshotId), signal);
      // the protection group, also when an earlier attempt stopped before its snapshot
      await destroy('/protection-groups', [pg], signal);
    },

    async present(args: { name: string; snapshotName: string; host: ProxyHost }, opts?: CallOptions): Promise<Presentation> {
      const signal = opts?.signal;
      const set = await findSet(args.snapshotName, signal);
      if (!set) throw providerError('not_found', `no snapshot set named ${args.snapshotName}`, { provider: 'pure', context: { snapshot: args.snapshotName } });
      const hostName = await ensureHost(args.host, signal);
      const sources = await volumesByName(set.volumes.map((v) => v.volumeId), signal);
      const members = [...set.volumes].sort((a, b) => a.volumeId.localeCompare(b.volumeId));
      const luns = [];
      for (const [i, m] of members.entries()) {
        const copy = `${args.name}-${i}`;
        const made = await client.writeTolerating<PureVolume>('already_exists', { method: 'POST', path: '/volumes', query: { names: copy }, body: { source: { name: m.snapshotId } }, idempotent: true, signal });
        const vol = made?.[0] ?? (await volumesByName([copy], signal)).get(copy);
        if (!vol) throw providerError('transient', `copy ${copy} of ${m.snapshotId} is not listed`, { provider: 'pure', context: { volume: copy } });
        const conn = await client.writeTolerating<PureConnection>('already_exists', { method: 'POST', path: '/connections', query: { host_names: hostName, volume_names: copy }, idempotent: true, signal })
          ?? await client.list<PureConnection>('/connections', { host_names: hostName, volume_names: copy }, signal);
        const source = sources.get(m.volumeId);
        if (!source) throw providerError('not_found', `source volume ${m.volumeId} of ${args.snapshotName} is gone`, { provider: 'pure', context: { volume: m.volumeId } });
        luns.push({ volumeId: m.volumeId, sourceIdentity: pureIdentityFromSerial(source.serial), identity: pureIdentityFromSerial(vol.serial), lun: conn[0]?.lun });
      }
      return { name: args.name, snapshotName: args.snapshotName, host: hostName, luns };
    },

    async unpresent(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const copies = (await client.list<PureVolume>('/volumes', { filter: `name=${quote(`${args.name}-*`)}`, destroyed: false }, signal)).filter((v) => copyPattern(args.name).test(v.name));
      for (const copy of copies) {
        const conns = await client.list<PureConnection>('/connections', { volume_names: copy.name }, signal);
        for (const c of conns) {
          if (c.host?.name) await client.writeTolerating('not_found', { method: 'DELETE', path: '/connections', query: { host_names: c.host.name, volume_names: copy.name }, signal });
        }
      }
      await destroy('/volumes', copies.map((c) => c.name), signal);
    },

    async close() {
      await client.close();
    },
  };
}

function isoTime(ms: number | undefined): string {
  return new Date(ms ?? 0).toISOString();
}

/** An existing set under the same name must cover the same volumes (CSI: same name, other args → already_exists). */
export function sameVolumes(set: SnapshotSet, volumeIds: string[]): SnapshotSet {
  const have = set.volumes.map((v) => v.volumeId).sort().join(',');
  const want = [...volumeIds].sort().join(',');
  if (have !== want) throw providerError('already_exists', `a snapshot set named ${set.name} exists for other volumes (${have}, asked ${want})`, { context: { snapshot: set.name } });
  return set;
}
