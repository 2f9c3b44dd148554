import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { powerstoreIdentityFromWwn, powerstoreWwnFromIdentity } from '../sdk/disk-identity.js';
import { providerError, providerErrorKind } from '../sdk/errors.js';
import { formatWwpn, normalizeIqn } from '../sdk/initiators.js';
import { fitName, nameHash, NameRules } from '../sdk/name-rules.js';
import type {
  ArrayVolume,
  HostHandle,
  HostSpec,
  Presentation,
  PresentationTarget,
  PresentedLun,
  Provider,
  ProviderCapabilities,
  SnapshotHandle,
} from '../sdk/provider.js';
import type { PowerstoreClient, PsHost, PsMapping, PsVolume, PsVolumeGroup } from './client.js';

export interface PowerstoreProviderOptions {
  /** `os_type` of hosts this driver creates; default from the host's OS */
  hostOsType?: 'Windows' | 'Linux' | 'ESXi' | 'AIX' | 'HP-UX' | 'Solaris';
  /** iSCSI CHAP (single mode) for hosts this driver creates: the cluster's CHAP mode decides whether it is needed */
  chap?: { username: string; password: string };
}

const VOL_SELECT = 'id,name,wwn,size,description,creation_timestamp,protection_data';
/** Descriptions tag what this driver made, so it can list its objects without other state (`description` ≤ 128/256, powerstore-4.1.0.0.json). */
const SET_TAG = 'hvsnap-set:';
const PRESENT_TAG = 'hvsnap-presentation:';
const GROUP_TAG = 'hvsnap-group';
/** A description tag that fits the 128 characters a volume description may have (powerstore-4.1.0.0.json `volume_snapshot.description`). */
const tagged = (tag: string, name: string) => fitName(`${tag}${name}`, { ...NameRules.powerstore, what: 'PowerStore description' });
const GROUP_SELECT = 'id,name,description,type,creation_timestamp,protection_data,volumes(id,protection_data)';

/**
 * The Dell PowerStore provider. A single-volume set is a volume snapshot (description
 * `hvsnap-set:S`). A consistency group is a snapshot set of a write-order-consistent volume group:
 * a volume may belong to one volume group only (422 `0xE0A0B0010010`, array-apis.md §3.4), so the
 * driver uses the group that already holds all the volumes — a customer's, or the one hvsnap made
 * for the same volumes before — as dell/csi-powerstore does (pkg/controller/csi_extension_server.go
 * `CreateVolumeGroupSnapshot`), and makes one (`hvsnap-vg-<hash of the volume ids>`) only when none
 * of them is grouped. Volumes split over groups, or partly grouped, are refused by `checkSnapshot`.
 * The group hvsnap made lives while any of its snapshot sets does, so every retained restore point
 * of the same volumes works. Snapshots are read-only: `present` clones each one and attaches the clone.
 */
export function createPowerstoreProvider(client: PowerstoreClient, options: PowerstoreProviderOptions): Provider {
  const capabilities: ProviderCapabilities = { consistencyGroups: true, presentation: 'copy', readOnlyPresentation: false, transports: ['iscsi', 'fc'] };
  let hostQueue: Promise<unknown> = Promise.resolve();

  const groupHandle = (g: PsVolumeGroup, volumeIds?: string[]): SnapshotHandle => ({
    name: (g.description ?? '').startsWith(SET_TAG) ? g.description!.slice(SET_TAG.length) : g.name,
    id: g.id,
    groupId: g.protection_data?.source_id ?? undefined,
    consistencyGroup: true,
    createdAt: g.creation_timestamp ?? new Date(0).toISOString(),
    volumes: (g.volumes ?? [])
      .filter((v) => v.protection_data?.source_id && (!volumeIds || volumeIds.includes(v.protection_data.source_id)))
      .map((v) => ({ volumeId: v.protection_data!.source_id!, snapshotId: v.id })),
  });
  const singleHandles = (snaps: PsVolume[]): SnapshotHandle[] => {
    const byName = new Map<string, PsVolume[]>();
    for (const s of snaps) {
      const name = (s.description ?? '').slice(SET_TAG.length);
      byName.set(name, [...(byName.get(name) ?? []), s]);
    }
    return [...byName].map(([name, list]) => ({
      name,
      id: list
        .map((s) => s.id)
        .sort()
        .join(','),
      consistencyGroup: false,
      createdAt: list[0]!.creation_timestamp ?? new Date(0).toISOString(),
      volumes: list.map((s) => ({ volumeId: s.protection_data?.source_id ?? '', snapshotId: s.id })),
    }));
  };

  /** By name, for create idempotency and compensation only. */
  async function findSet(name: string, signal?: AbortSignal): Promise<SnapshotHandle | undefined> {
    const groups = await client.list<PsVolumeGroup>(
      '/volume_group',
      { type: 'eq.Snapshot', description: `eq.${tagged(SET_TAG, name)}`, select: GROUP_SELECT },
      signal,
    );
    if (groups[0]) return { ...groupHandle(groups[0]), name };
    const snaps = await client.list<PsVolume>('/volume', { type: 'eq.Snapshot', description: `eq.${tagged(SET_TAG, name)}`, select: VOL_SELECT }, signal);
    const set = singleHandles(snaps)[0];
    return set && { ...set, name };
  }

  /** The set just created, found by name; not listed yet is `transient` (the create is retried). */
  async function madeSet(name: string, signal?: AbortSignal): Promise<SnapshotHandle> {
    const made = await findSet(name, signal);
    if (!made) throw providerError('transient', `snapshot set ${name} was created but is not listed`, { provider: 'powerstore', context: { snapshot: name } });
    return made;
  }

  async function volume(id: string, signal?: AbortSignal): Promise<PsVolume> {
    const v = await client.get<PsVolume>(`/volume/${encodeURIComponent(id)}`, { select: `${VOL_SELECT},volume_groups(id,name)` }, signal);
    if (!v) throw providerError('not_found', `no PowerStore volume with id ${id}`, { provider: 'powerstore', context: { volume: id } });
    return v;
  }

  /** The one volume group that can take a consistent snapshot of `volumeIds`: existing (id) or to make (undefined). */
  async function groupFor(volumeIds: string[], signal?: AbortSignal): Promise<{ id?: string; name: string }> {
    const vols = await Promise.all(volumeIds.map((id) => volume(id, signal)));
    const groups = vols.map((v) => v.volume_groups?.[0]);
    const grouped = vols.filter((_, i) => groups[i]);
    if (grouped.length === 0) return { name: fitName(`hvsnap-vg-${nameHash([...volumeIds].sort().join(','))}`, NameRules.powerstore) };
    const ids = new Set(groups.map((g) => g?.id));
    if (grouped.length === vols.length && ids.size === 1) return { id: groups[0]!.id, name: groups[0]!.name ?? groups[0]!.id };
    const where = vols.map((v, i) => `${v.name} in ${groups[i] ? `volume group ${groups[i]!.name ?? groups[i]!.id}` : 'no volume group'}`).join(', ');
    throw providerError(
      'wrong_state',
      `the volumes cannot be snapshotted at one point in time: ${where}. A PowerStore volume belongs to one volume group at most; put all of them in one volume group (or take none of them out of theirs), then back up again`,
      { provider: 'powerstore', context: { volume: vols.map((v) => v.name).join(',') } },
    );
  }

  /** Initiators as PowerStore spells them: iSCSI IQNs lower case, FC WWPNs colon-separated lower case (openstack/cinder dell_emc/powerstore/utils.py). */
  const initiatorsOf = (host: HostSpec) => [
    ...(host.iqns ?? []).map((n) => ({ port_name: normalizeIqn(n), port_type: 'iSCSI' })),
    ...(host.wwns ?? []).map((n) => ({ port_name: formatWwpn(n, 'colon-lower'), port_type: 'FC' })),
    ...(host.nqns ?? []).map((n) => ({ port_name: n, port_type: 'NVMe' })),
  ];

  /** The host that holds any of these initiators, or else has the name: GET /host with its initiators. */
  async function findHostNow(host: HostSpec, signal?: AbortSignal): Promise<HostHandle | undefined> {
    const names = new Set(initiatorsOf(host).map((i) => i.port_name.toLowerCase()));
    const hosts = await client.list<PsHost>('/host', { select: 'id,name,initiators' }, signal);
    const byInitiator = hosts.filter((h) => h.initiators?.some((i) => names.has((i.port_name ?? '').toLowerCase())));
    if (byInitiator.length > 1) {
      throw providerError(
        'wrong_state',
        `the initiators of ${host.name} are on ${byInitiator.length} PowerStore hosts (${byInitiator.map((h) => h.name).join(', ')}); keep one of them (as Cinder asks, dell_emc/powerstore/adapter.py)`,
        { provider: 'powerstore', context: { host: host.name } },
      );
    }
    const found = byInitiator[0] ?? hosts.find((h) => h.name === host.name);
    return found ? { id: found.id, name: found.name, created: false } : undefined;
  }

  async function ensureHostNow(host: HostSpec, signal?: AbortSignal): Promise<HostHandle> {
    const found = await findHostNow(host, signal);
    if (found) return found;
    const initiators = initiatorsOf(host);
    const chap = options.chap ? { chap_single_username: options.chap.username, chap_single_password: options.chap.password } : {};
    const osType = options.hostOsType ?? (host.osType === 'linux' ? 'Linux' : 'Windows');
    const name = fitName(host.name, NameRules.powerstore);
    try {
      const made = await client.write<{ id: string }>({
        method: 'POST',
        path: '/host',
        body: { name, os_type: osType, initiators: initiators.map((i) => ({ ...i, ...(i.port_type === 'iSCSI' ? chap : {}) })) },
        signal,
      });
      return { id: made.id, name, created: true };
    } catch (e) {
      // another process made it between our look-up and our create: that host is the answer
      if (providerErrorKind(e) !== 'already_exists') throw e;
      const again = await findHostNow(host, signal);
      if (!again) throw e;
      return again;
    }
  }

  async function mapping(volumeId: string, hostId: string, signal?: AbortSignal): Promise<PsMapping | undefined> {
    return (
      await client.list<PsMapping>(
        '/host_volume_mapping',
        { volume_id: `eq.${volumeId}`, host_id: `eq.${hostId}`, select: 'host_id,volume_id,logical_unit_number' },
        signal,
      )
    )[0];
  }

  async function target(host: HostSpec, signal?: AbortSignal): Promise<PresentationTarget> {
    if (host.wwns?.length && !host.iqns?.length) {
      const ports = await client.list<{ wwn?: string; is_link_up?: boolean }>('/fc_port', { select: 'id,wwn,is_link_up' }, signal);
      return { transport: 'fc', wwpns: ports.filter((p) => p.is_link_up !== false && p.wwn).map((p) => formatWwpn(p.wwn!, 'plain-lower')) };
    }
    // iSCSI targets: the storage IPs with the iSCSI target purpose (openstack/cinder dell_emc/powerstore/client.py)
    const addrs = await client.list<{ address?: string; purposes?: string[]; ip_port?: { target_iqn?: string } }>(
      '/ip_pool_address',
      { select: 'id,address,purposes,ip_port(target_iqn)' },
      signal,
    );
    const iscsi = addrs.filter((a) => a.purposes?.includes('Storage_Iscsi_Target') && a.address);
    return {
      transport: 'iscsi',
      portals: iscsi.map((a) => `${a.address}:3260`),
      iqns: [...new Set(iscsi.map((a) => a.ip_port?.target_iqn).filter((x): x is string => !!x))],
    };
  }

  return {
    name: 'powerstore',
    capabilities,

    async probe(_args, opts?: CallOptions) {
      const c = (await client.list<{ name?: string; id?: string }>('/cluster', { select: 'id,name' }, opts?.signal))[0];
      const sw = (
        await client
          .list<{ release_version?: string }>('/software_installed', { select: 'id,release_version', is_cluster: 'eq.true' }, opts?.signal)
          .catch(() => [])
      )[0];
      return { vendor: 'Dell', model: 'PowerStore', version: sw?.release_version, capabilities, details: { cluster: c?.name ?? '' } };
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]> {
      const out: ArrayVolume[] = [];
      for (const identity of args.identities) {
        const wwn = powerstoreWwnFromIdentity(identity);
        const v = wwn ? (await client.list<PsVolume>('/volume', { wwn: `eq.${wwn}`, select: VOL_SELECT }, opts?.signal))[0] : undefined;
        if (!v?.wwn)
          throw providerError('not_found', `no PowerStore volume has identity ${identity.kind}.${identity.id}`, {
            provider: 'powerstore',
            context: { volume: identity.id },
          });
        out.push({ id: v.id, name: v.name, identity: powerstoreIdentityFromWwn(v.wwn), sizeBytes: v.size });
      }
      return out;
    },

    async checkSnapshot(args: { volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<void> {
      if (args.consistencyGroup && args.volumeIds.length > 1) await groupFor(args.volumeIds, opts?.signal);
      else for (const id of args.volumeIds) await volume(id, opts?.signal);
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotHandle> {
      const signal = opts?.signal;
      const existing = await findSet(args.name, signal);
      if (existing) return sameVolumes(existing, args.volumeIds);
      const snapName = fitName(args.name, NameRules.powerstore);
      if (args.consistencyGroup && args.volumeIds.length > 1) {
        const g = await groupFor(args.volumeIds, signal);
        let groupId = g.id;
        if (!groupId) {
          // a concurrent call may create the group between our look-up and our create: then look again
          const made = await client.writeTolerating<{ id: string }>('already_exists', {
            method: 'POST',
            path: '/volume_group',
            body: { name: g.name, volume_ids: args.volumeIds, is_write_order_consistent: true, description: GROUP_TAG },
            signal,
          });
          groupId = made?.id ?? (await client.list<PsVolumeGroup>('/volume_group', { name: `eq.${g.name}`, select: 'id,name' }, signal))[0]?.id;
        }
        if (!groupId)
          throw providerError('transient', `volume group ${g.name} was created but is not listed`, {
            provider: 'powerstore',
            context: { snapshot: args.name },
          });
        await client.writeTolerating('already_exists', {
          method: 'POST',
          path: `/volume_group/${groupId}/snapshot`,
          body: { name: snapName, description: tagged(SET_TAG, args.name) },
          signal,
        });
        const made = await madeSet(args.name, signal);
        // a customer's group may hold more volumes: the handle keeps the ones asked for
        const handle = {
          ...made,
          groupId,
          volumes: made.volumes.filter((v) => args.volumeIds.includes(v.volumeId)),
          ...(g.id ? {} : { attributes: { groupOwner: 'hvsnap' } }),
        };
        return sameVolumes(handle, args.volumeIds);
      }
      for (const [i, id] of args.volumeIds.entries()) {
        const name = fitName(args.volumeIds.length === 1 ? args.name : `${args.name}-${i}`, NameRules.powerstore);
        // "name already in use" from a concurrent call with the same name: the set exists
        await client.writeTolerating('already_exists', {
          method: 'POST',
          path: `/volume/${encodeURIComponent(id)}/snapshot`,
          body: { name, description: tagged(SET_TAG, args.name) },
          signal,
        });
      }
      const made = await madeSet(args.name, signal);
      return sameVolumes(made, args.volumeIds);
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotHandle[]> {
      const prefix = args.prefix ?? '';
      const groups = await client.list<PsVolumeGroup>(
        '/volume_group',
        { type: 'eq.Snapshot', description: `like.${SET_TAG}${prefix}*`, select: GROUP_SELECT },
        opts?.signal,
      );
      const snaps = await client.list<PsVolume>('/volume', { type: 'eq.Snapshot', description: `like.${SET_TAG}${prefix}*`, select: VOL_SELECT }, opts?.signal);
      return [...groups.map((g) => groupHandle(g)), ...singleHandles(snaps)].filter((s) => s.name.startsWith(prefix));
    },

    async deleteSnapshot(args: { name: string; handle?: SnapshotHandle }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const set = args.handle ?? (await findSet(args.name, signal));
      if (!set) return;
      if (set.consistencyGroup) {
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume_group/${set.id}`, body: { delete_members: true }, signal });
        const group = set.groupId
          ? await client.get<PsVolumeGroup>(`/volume_group/${set.groupId}`, { select: 'id,name,description,volumes(id)' }, signal)
          : undefined;
        if (group?.description !== GROUP_TAG) return; // a customer's group stays as it is
        // hvsnap's own group goes with its last snapshot set
        const sets = (await client.list<PsVolumeGroup>('/volume_group', { type: 'eq.Snapshot', select: 'id,protection_data' }, signal)).filter(
          (g) => g.protection_data?.source_id === group.id,
        );
        if (sets.length) return;
        const ids = (group.volumes ?? []).map((v) => v.id);
        if (ids.length)
          await client.writeTolerating('not_found', { method: 'POST', path: `/volume_group/${group.id}/remove_members`, body: { volume_ids: ids }, signal });
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume_group/${group.id}`, body: { delete_members: false }, signal });
      } else {
        for (const v of set.volumes) await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume/${v.snapshotId}`, signal });
      }
    },

    ensureHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle> {
      // serialized, as Cinder's `@coordination.synchronized("powerstore-create-host")` (dell_emc/powerstore/adapter.py)
      const run = hostQueue.then(() => ensureHostNow(args.host, opts?.signal));
      hostQueue = run.catch(() => undefined);
      return run;
    },

    findHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle | undefined> {
      return findHostNow(args.host, opts?.signal);
    },

    async removeHost(args: { host: HostHandle }, opts?: CallOptions): Promise<void> {
      const maps = await client.list<PsMapping>('/host_volume_mapping', { host_id: `eq.${args.host.id}`, select: 'host_id,volume_id' }, opts?.signal);
      if (maps.length)
        throw providerError('wrong_state', `PowerStore host ${args.host.name} still has ${maps.length} volume(s) attached; not removed`, {
          provider: 'powerstore',
          context: { host: args.host.name },
        });
      await client.writeTolerating('not_found', { method: 'DELETE', path: `/host/${args.host.id}`, signal: opts?.signal });
    },

    async present(args: { name: string; snapshot: SnapshotHandle; host: HostSpec }, opts?: CallOptions): Promise<Presentation> {
      const signal = opts?.signal;
      const host = await this.ensureHost({ host: args.host }, opts);
      const luns: PresentedLun[] = [];
      for (const [i, m] of [...args.snapshot.volumes].sort((a, b) => a.volumeId.localeCompare(b.volumeId)).entries()) {
        const cloneName = fitName(`${args.name}-${i}`, NameRules.powerstore);
        let clone = (await client.list<PsVolume>('/volume', { name: `eq.${cloneName}`, select: VOL_SELECT }, signal))[0];
        if (clone && clone.protection_data?.source_id !== m.snapshotId) {
          throw providerError('already_exists', `volume ${cloneName} exists but is not a clone of snapshot ${m.snapshotId}`, {
            provider: 'powerstore',
            context: { volume: cloneName },
          });
        }
        if (!clone) {
          const made = await client.write<{ id: string }>({
            method: 'POST',
            path: `/volume/${m.snapshotId}/clone`,
            body: { name: cloneName, description: tagged(PRESENT_TAG, args.name) },
            signal,
          });
          clone = await volume(made.id, signal);
        }
        let map = await mapping(clone.id, host.id, signal);
        if (!map) {
          await client.write({ method: 'POST', path: `/volume/${clone.id}/attach`, body: { host_id: host.id }, signal });
          map = await mapping(clone.id, host.id, signal);
        }
        const source = await volume(m.volumeId, signal);
        luns.push({
          volumeId: m.volumeId,
          sourceIdentity: powerstoreIdentityFromWwn(source.wwn!),
          identity: powerstoreIdentityFromWwn(clone.wwn!),
          lun: map?.logical_unit_number,
        });
      }
      return { name: args.name, snapshotName: args.snapshot.name, host: host.name, target: await target(args.host, signal), luns };
    },

    async unpresent(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const clones = await client.list<PsVolume>('/volume', { description: `eq.${tagged(PRESENT_TAG, args.name)}`, select: 'id,name' }, signal);
      for (const clone of clones) {
        const maps = await client.list<PsMapping>('/host_volume_mapping', { volume_id: `eq.${clone.id}`, select: 'host_id,volume_id' }, signal);
        for (const m of maps)
          await client.writeTolerating('not_found', { method: 'POST', path: `/volume/${clone.id}/detach`, body: { host_id: m.host_id }, signal });
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/volume/${clone.id}`, signal });
      }
    },

    async close() {
      await client.close();
    },
  };
}

function sameVolumes(set: SnapshotHandle, volumeIds: string[]): SnapshotHandle {
  const have = set.volumes
    .map((v) => v.volumeId)
    .sort()
    .join(',');
  const want = [...volumeIds].sort().join(',');
  if (have !== want)
    throw providerError('already_exists', `a snapshot set named ${set.name} exists for other volumes (${have}, asked ${want})`, {
      provider: 'powerstore',
      context: { snapshot: set.name },
    });
  return set;
}
