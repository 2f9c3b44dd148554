import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { powerstoreIdentityFromWwn, powerstoreWwnFromIdentity } from '../sdk/disk-identity.js';
import { providerError } from '../sdk/errors.js';
import type { ArrayVolume, Presentation, PresentedLun, Provider, ProviderCapabilities, ProxyHost, SnapshotSet } from '../sdk/provider.js';
import type { PowerstoreClient, PsHost, PsMapping, PsVolume, PsVolumeGroup } from './client.js';

export interface PowerstoreProviderOptions {
  /** `os_type` of hosts this driver creates */
  hostOsType: 'Windows' | 'Linux' | 'ESXi' | 'AIX' | 'HP-UX' | 'Solaris';
}

const VOL_SELECT = 'id,name,wwn,size,description,creation_timestamp,protection_data';
/** Descriptions tag what this driver made, so it can find its objects without other state. */
const SET_TAG = 'hvsnap-set:';
const PRESENT_TAG = 'hvsnap-presentation:';
const VG_PREFIX = 'hvsnap-';

/**
 * The Dell PowerStore provider. A single-volume set S is the snapshot `S` of the volume (description
 * `hvsnap-set:S`); a consistency group of several volumes is a write-order-consistent volume group
 * `hvsnap-S` and its snapshot `S` (a volume group of type Snapshot whose members' `protection_data.source_id`
 * name the source volumes). Snapshots are read-only and not presented directly: `present` clones each
 * (description `hvsnap-presentation:P`) and attaches the clone to the host; `unpresent` detaches and
 * deletes the clones.
 */
export function createPowerstoreProvider(client: PowerstoreClient, options: PowerstoreProviderOptions): Provider {
  const capabilities: ProviderCapabilities = { consistencyGroups: true, presentation: 'copy', readOnlyPresentation: false };

  const groupSet = (g: PsVolumeGroup): SnapshotSet => ({
    name: g.name, id: g.id, consistencyGroup: true, createdAt: g.creation_timestamp ?? new Date(0).toISOString(),
    volumes: (g.volumes ?? []).filter((v) => v.protection_data?.source_id).map((v) => ({ volumeId: v.protection_data!.source_id!, snapshotId: v.id })),
  });
  const singleSets = (snaps: PsVolume[]): SnapshotSet[] => {
    const byName = new Map<string, PsVolume[]>();
    for (const s of snaps) {
      const name = (s.description ?? '').slice(SET_TAG.length);
      byName.set(name, [...(byName.get(name) ?? []), s]);
    }
    return [...byName].map(([name, list]) => ({
      name, id: list.map((s) => s.id).sort().join(','), consistencyGroup: false, createdAt: list[0]!.creation_timestamp ?? new Date(0).toISOString(),
      volumes: list.map((s) => ({ volumeId: s.protection_data?.source_id ?? '', snapshotId: s.id })),
    }));
  };
  const groupQuery = { type: 'eq.Snapshot', select: 'id,name,creation_timestamp,volumes(id,protection_data)' };

  async function findSet(name: string, signal?: AbortSignal): Promise<SnapshotSet | undefined> {
    const groups = await client.list<PsVolumeGroup>('/volume_group', { ...groupQuery, name: `eq.${name}` }, signal);
    if (groups[0]) return groupSet(groups[0]);
    const snaps = await client.list<PsVolume>('/volume', { type: 'eq.Snapshot', description: `eq.${SET_TAG}${name}`, select: VOL_SELECT }, signal);
    return singleSets(snaps)[0];
  }

  async function volume(id: string, signal?: AbortSignal): Promise<PsVolume> {
    const v = await client.get<PsVolume>(`/volume/${encodeURIComponent(id)}`, { select: VOL_SELECT }, signal);
    if (!v) throw providerError('not_found', `no PowerStore volume with id ${id}`, { provider: 'powerstore', context: { volume: id } });
    return v;
  }

  async function ensureHost(host: ProxyHost, signal?: AbortSignal): Promise<string> {
    const initiators = [...(host.iqns ?? []).map((n) => ({ port_name: n, port_type: 'iSCSI' })), ...(host.wwns ?? []).map((n) => ({ port_name: n, port_type: 'FC' })), ...(host.nqns ?? []).map((n) => ({ port_name: n, port_type: 'NVMe' }))];
    const hosts = await client.list<PsHost>('/host', { select: 'id,name,initiators' }, signal);
    const names = new Set(initiators.map((i) => i.port_name.toLowerCase()));
    const found = hosts.find((h) => h.initiators?.some((i) => names.has((i.port_name ?? '').toLowerCase()))) ?? hosts.find((h) => h.name === host.name);
    if (found) return found.id;
    const made = await client.write<{ id: string }>({ method: 'POST', path: '/host', body: { name: host.name, os_type: options.hostOsType, initiators }, signal });
    return made.id;
  }

  async function mapping(volumeId: string, hostId: string, signal?: AbortSignal): Promise<PsMapping | undefined> {
    return (await client.list<PsMapping>('/host_volume_mapping', { volume_id: `eq.${volumeId}`, host_id: `eq.${hostId}`, select: 'host_id,volume_id,logical_unit_number' }, signal))[0];
  }

  return {
    name: 'powerstore',
    capabilities,

    async probe(_args, opts?: CallOptions) {
      const c = (await client.list<{ name?: string; id?: string }>('/cluster', { select: 'id,name' }, opts?.signal))[0];
      return { vendor: 'Dell', model: 'PowerStore', details: { cluster: c?.name ?? '' } };
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]> {
      const out: ArrayVolume[] = [];
      for (const identity of args.identities) {
        const wwn = powerstoreWwnFromIdentity(identity);
        const v = wwn ? (await client.list<PsVolume>('/volume', { wwn: `eq.${wwn}`, select: VOL_SELECT }, opts?.signal))[0] : undefined;
        if (!v?.wwn) throw providerError('not_found', `no PowerStore volume has identity ${identity.kind}.${identity.id}`, { provider: 'powerstore', context: { volume: identity.id } });
        out.push({ id: v.id, name: v.name, identity: powerstoreIdentityFromWwn(v.wwn), sizeBytes: v.size });
      }
      return out;
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotSet> {
      const signal = opts?.signal;
      const existing = await findSet(args.name, signal);
      if (existing) return sameVolumes(existing, args.volumeIds);
      for (const id of args.volumeIds) await volume(id, signal);
      if (args.consistencyGroup && args.volumeIds.length > 1) {
        const vgName = `${VG_PREFIX}${args.name}`;
        const findVg = async () => (await client.list<PsVolumeGroup>('/volume_group', { name: `eq.${vgName}`, select: 'id,name' }, signal))[0];
        // a concurrent call may create the group between our look-up and our create: then look again
        const vg = (await findVg())
          ?? (await client.writeTolerating<{ id: string }>('already_exists', { method: 'POST', path: '/volume_group', body: { name: vgName, volume_ids: args.volumeIds, is_write_order_consistent: true, description: `${SET_TAG}${args.name}` }, signal }))
          ?? (await findVg());
        if (!vg) throw providerError('transient', `volume group ${vgName} was created but is not listed`, { provider: 'powerstore', context: { snapshot: args.name } });
        await client.writeTolerating('already_exists', { method: 'POST', path: `/volume_group/${vg.id}/snapshot`, body: { name: args.name, description: `${SET_TAG}${args.name}` }, signal });
      } else {
        for (const [i, id] of args.volumeIds.entries()) {
          const name = args.volumeIds.length === 1 ? args.name : `${args.name}-${i}`;
          // "name already in use" from a concurrent call with the same name: the set exists
          await client.writeTolerating('already_exists', { method: 'POST', path: `/volume/${encodeURIComponent(id)}/snapshot`, body: { name, description: `${SET_TAG}${args.name}` }, signal });
        }
      }
      const made = await findSet(args.name, signal);
      if (!made) throw providerError('transient', `snapshot set ${args.name} was created but is not listed`, { provider: 'powerstore', context: { snapshot: args.name } });
      return made;
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotSet[]> {
      const prefix = args.prefix ?? '';
      const groups = await client.list<PsVolumeGroup>('/volume_group', { ...groupQuery, description: `like.${SET_TAG}${prefix}*` }, opts?.signal);
      const snaps = await client.list<PsVolume>('/volume', { type: 'eq.Snapshot', description: `like.${SET_TAG}${prefix}*`, select: VOL_SELECT }, opts?.signal);
      return [...groups.map(groupSet), ...singleSets(snaps)].filter((s) => s.name.startsWith(prefix));
    },

    async deleteSnapshot(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const set = await findSet(args.name, signal);
      if (set?.consistencyGroup) {
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume_group/${set.id}`, body: { delete_members: true }, signal });
      } else if (set) {
        for (const v of set.volumes) await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume/${v.snapshotId}`, signal });
      }
      // the source volume group, also when an earlier attempt stopped before its snapshot
      const vg = (await client.list<PsVolumeGroup>('/volume_group', { name: `eq.${VG_PREFIX}${args.name}`, select: 'id,name,volumes(id)' }, signal))[0];
      if (vg) {
        const ids = (vg.volumes ?? []).map((v) => v.id);
        if (ids.length) await client.writeTolerating('not_found', { method: 'POST', path: `/volume_group/${vg.id}/remove_members`, body: { volume_ids: ids }, signal });
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume_group/${vg.id}`, body: { delete_members: false }, signal });
      }
    },

    async present(args: { name: string; snapshotName: string; host: ProxyHost }, opts?: CallOptions): Promise<Presentation> {
      const signal = opts?.signal;
      const set = await findSet(args.snapshotName, signal);
      if (!set) throw providerError('not_found', `no snapshot set named ${args.snapshotName}`, { provider: 'powerstore', context: { snapshot: args.snapshotName } });
      const hostId = await ensureHost(args.host, signal);
      const luns: PresentedLun[] = [];
      for (const [i, m] of [...set.volumes].sort((a, b) => a.volumeId.localeCompare(b.volumeId)).entries()) {
        const cloneName = `${args.name}-${i}`;
        let clone = (await client.list<PsVolume>('/volume', { name: `eq.${cloneName}`, select: VOL_SELECT }, signal))[0];
        if (!clone) {
          const made = await client.write<{ id: string }>({ method: 'POST', path: `/volume/${m.snapshotId}/clone`, body: { name: cloneName, description: `${PRESENT_TAG}${args.name}` }, signal });
          clone = await volume(made.id, signal);
        }
        let map = await mapping(clone.id, hostId, signal);
        if (!map) {
          await client.write({ method: 'POST', path: `/volume/${clone.id}/attach`, body: { host_id: hostId }, signal });
          map = await mapping(clone.id, hostId, signal);
        }
        const source = await volume(m.volumeId, signal);
        luns.push({ volumeId: m.volumeId, sourceIdentity: powerstoreIdentityFromWwn(source.wwn!), identity: powerstoreIdentityFromWwn(clone.wwn!), lun: map?.logical_unit_number });
      }
      return { name: args.name, snapshotName: args.snapshotName, host: args.host.name, luns };
    },

    async unpresent(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const clones = await client.list<PsVolume>('/volume', { description: `eq.${PRESENT_TAG}${args.name}`, select: 'id,name' }, signal);
      for (const clone of clones) {
        const maps = await client.list<PsMapping>('/host_volume_mapping', { volume_id: `eq.${clone.id}`, select: 'host_id,volume_id' }, signal);
        for (const m of maps) await client.writeTolerating('not_found', { method: 'POST', path: `/volume/${clone.id}/detach`, body: { host_id: m.host_id }, signal });
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume/${clone.id}`, signal });
      }
    },

    async close() {
      await client.close();
    },
  };
}

function sameVolumes(set: SnapshotSet, volumeIds: string[]): SnapshotSet {
  const have = set.volumes.map((v) => v.volumeId).sort().join(',');
  const want = [...volumeIds].sort().join(',');
  if (have !== want) throw providerError('already_exists', `a snapshot set named ${set.name} exists for other volumes (${have}, asked ${want})`, { provider: 'powerstore', context: { snapshot: set.name } });
  return set;
}
