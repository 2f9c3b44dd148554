import { createHash } from 'node:crypto';
import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { ontapIdentityFromSerial, ontapSerialFromIdentity } from '../sdk/disk-identity.js';
import { providerError } from '../sdk/errors.js';
import type { ArrayVolume, Presentation, PresentedLun, Provider, ProviderCapabilities, ProxyHost, SnapshotSet } from '../sdk/provider.js';
import type { OntapClient, OntapLun, OntapSnapshot, OntapVolume } from './client.js';

export interface OntapProviderOptions {
  /** igroup `os_type` for hosts this driver creates */
  igroupOsType: string;
  /** igroup `protocol` for hosts this driver creates */
  igroupProtocol: 'iscsi' | 'fcp' | 'mixed';
}

const LUN_FIELDS = 'uuid,name,serial_number,location.volume.name,location.volume.uuid,space.size';
const SNAP_FIELDS = 'uuid,name,create_time,comment';

/** A FlexVol snapshot of a set: which FlexVol, the snapshot, and the LUNs of the set it holds. */
interface VolSnap { vol: OntapVolume; snap: OntapSnapshot; luns: string[]; cg: boolean }

/**
 * The NetApp ONTAP provider. A volume is a LUN (id: LUN uuid); a snapshot is taken of the FlexVol
 * holding it, so a set named S is the snapshot S of each FlexVol involved. Several FlexVols in a
 * consistency group go through a throw-away CG `cg-<S>` (Trident's recipe): create the CG, snapshot
 * it, delete the CG; the FlexVol snapshots stay. Each FlexVol snapshot's comment records the set's
 * LUNs in it (`hvsnap cg=0|1 luns=<uuid,...>`), so listing needs no other state. `present` makes a
 * FlexClone of each FlexVol from the snapshot and maps the clone's LUNs to the host's igroup.
 */
export function createOntapProvider(client: OntapClient, options: OntapProviderOptions): Provider {
  const capabilities: ProviderCapabilities = { consistencyGroups: true, presentation: 'copy', readOnlyPresentation: false };
  const svm = client.svm;

  const lunById = async (uuid: string, signal?: AbortSignal) => {
    const lun = await client.get<OntapLun>(`/storage/luns/${encodeURIComponent(uuid)}`, { fields: LUN_FIELDS }, signal);
    if (!lun) throw providerError('not_found', `no ONTAP LUN with uuid ${uuid} in SVM ${svm}`, { provider: 'ontap', context: { volume: uuid } });
    return lun;
  };
  const volumes = (signal?: AbortSignal) => client.list<OntapVolume>('/storage/volumes', { 'svm.name': svm, fields: 'uuid,name' }, signal);

  async function volSnaps(namePattern: string, signal?: AbortSignal): Promise<VolSnap[]> {
    const out: VolSnap[] = [];
    for (const vol of await volumes(signal)) {
      const snaps = await client.list<OntapSnapshot>(`/storage/volumes/${vol.uuid}/snapshots`, { name: namePattern, fields: SNAP_FIELDS }, signal);
      for (const snap of snaps) {
        const m = /^hvsnap cg=([01]) luns=([\w,-]*)$/.exec(snap.comment ?? '');
        const luns = m ? m[2]!.split(',').filter(Boolean) : (await client.list<OntapLun>('/storage/luns', { 'location.volume.uuid': vol.uuid, fields: 'uuid' }, signal)).map((l) => l.uuid);
        out.push({ vol, snap, luns, cg: m?.[1] === '1' });
      }
    }
    return out;
  }

  function toSets(list: VolSnap[]): SnapshotSet[] {
    const byName = new Map<string, VolSnap[]>();
    for (const v of list) byName.set(v.snap.name, [...(byName.get(v.snap.name) ?? []), v]);
    return [...byName].map(([name, parts]) => ({
      name, id: name, consistencyGroup: parts.some((p) => p.cg), createdAt: parts.map((p) => p.snap.create_time ?? '').sort()[0] || new Date(0).toISOString(),
      volumes: parts.flatMap((p) => p.luns.map((lun) => ({ volumeId: lun, snapshotId: `${p.vol.uuid}/${p.snap.uuid}` }))),
    }));
  }

  const findSet = async (name: string, signal?: AbortSignal) => toSets(await volSnaps(name, signal)).find((s) => s.name === name);

  async function cgSnapshot(name: string, vols: OntapVolume[], signal?: AbortSignal): Promise<void> {
    // CG names are at most 30 characters (Trident); long names get a hash
    const cgName = `cg-${name}`.length <= 30 ? `cg-${name}` : `cg-${createHash('sha256').update(name).digest('hex').slice(0, 24)}`;
    await client.writeTolerating('already_exists', { method: 'POST', path: '/application/consistency-groups', async: true, idempotent: true, signal,
      body: { svm: { name: svm }, name: cgName, volumes: vols.map((v) => ({ name: v.name, provisioning_options: { action: 'add' } })) } }, `create CG ${cgName}`);
    const cg = (await client.list<{ uuid: string }>('/application/consistency-groups', { name: cgName, 'svm.name': svm, fields: 'uuid' }, signal))[0];
    if (!cg) throw providerError('transient', `consistency group ${cgName} was created but is not listed`, { provider: 'ontap', context: { snapshot: name } });
    try {
      await client.writeTolerating('already_exists', { method: 'POST', path: `/application/consistency-groups/${cg.uuid}/snapshots`, async: true, idempotent: true, signal,
        body: { name, consistency_type: 'crash' } }, `CG snapshot ${name}`);
    } finally {
      // the FlexVol snapshots outlive the CG; remove it whether or not the snapshot worked
      await client.writeTolerating('not_found', { method: 'DELETE', path: `/application/consistency-groups/${cg.uuid}`, async: true }, `delete CG ${cgName}`);
    }
  }

  async function ensureIgroup(host: ProxyHost, signal?: AbortSignal): Promise<string> {
    const initiators = [...(host.iqns ?? []), ...(host.wwns ?? []), ...(host.nqns ?? [])];
    if (initiators.length) {
      const found = await client.list<{ name: string }>('/protocols/san/igroups', { 'svm.name': svm, 'initiators.name': initiators.join(','), fields: 'uuid,name' }, signal);
      if (found[0]) return found[0].name;
    }
    const name = ontapName(host.name);
    await client.writeTolerating('already_exists', { method: 'POST', path: '/protocols/san/igroups', idempotent: true, signal,
      body: { svm: { name: svm }, name, protocol: options.igroupProtocol, os_type: options.igroupOsType, initiators: initiators.map((i) => ({ name: i })) } }, `create igroup ${name}`);
    return name;
  }

  async function mapLun(lunName: string, igroup: string, signal?: AbortSignal): Promise<number | undefined> {
    const existing = await client.list<{ logical_unit_number?: number }>('/protocols/san/lun-maps', { 'lun.name': lunName, 'igroup.name': igroup, 'svm.name': svm, fields: 'logical_unit_number' }, signal);
    if (existing[0]) return existing[0].logical_unit_number;
    const res = await client.write<{ records?: Array<{ logical_unit_number?: number }> }>({ method: 'POST', path: '/protocols/san/lun-maps', query: { return_records: true }, idempotent: false, signal,
      body: { svm: { name: svm }, lun: { name: lunName }, igroup: { name: igroup } } }, `map ${lunName}`);
    return res?.records?.[0]?.logical_unit_number;
  }

  return {
    name: 'ontap',
    capabilities,

    async probe(_args, opts?: CallOptions) {
      const c = await client.get<{ name?: string; version?: { full?: string } }>('/cluster', { fields: 'name,version' }, opts?.signal);
      return { vendor: 'NetApp', model: 'ONTAP', version: c?.version?.full, details: { cluster: c?.name ?? '', svm } };
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]> {
      const out: ArrayVolume[] = [];
      for (const identity of args.identities) {
        const serial = ontapSerialFromIdentity(identity);
        const lun = serial ? (await client.list<OntapLun>('/storage/luns', { serial_number: serial, 'svm.name': svm, fields: LUN_FIELDS }, opts?.signal))[0] : undefined;
        if (!lun?.serial_number) throw providerError('not_found', `no ONTAP LUN in SVM ${svm} has identity ${identity.kind}.${identity.id}${serial ? '' : ' (not an ONTAP NAA id: 600a0980 + hex(serial))'}`, { provider: 'ontap', context: { volume: identity.id } });
        out.push({ id: lun.uuid, name: lun.name, identity: ontapIdentityFromSerial(lun.serial_number), sizeBytes: lun.space?.size });
      }
      return out;
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotSet> {
      const signal = opts?.signal;
      const luns = [];
      for (const id of args.volumeIds) luns.push(await lunById(id, signal));
      const vols = new Map<string, { vol: OntapVolume; luns: string[] }>();
      for (const l of luns) {
        const v = { uuid: l.location!.volume!.uuid!, name: l.location!.volume!.name! };
        vols.set(v.uuid, { vol: v, luns: [...(vols.get(v.uuid)?.luns ?? []), l.uuid] });
      }
      // look in every FlexVol: the name may be taken by a set of other LUNs
      const existing = await findSet(args.name, signal);
      if (existing) return sameLuns(existing, args.volumeIds);
      const cg = args.consistencyGroup && vols.size > 1;
      if (cg) await cgSnapshot(args.name, [...vols.values()].map((v) => v.vol), signal);
      for (const { vol, luns: inVol } of vols.values()) {
        const comment = `hvsnap cg=${cg || (args.consistencyGroup && args.volumeIds.length > 1) ? 1 : 0} luns=${inVol.sort().join(',')}`;
        if (!cg) {
          await client.writeTolerating('already_exists', { method: 'POST', path: `/storage/volumes/${vol.uuid}/snapshots`, async: true, idempotent: true, signal, body: { name: args.name, comment } }, `snapshot ${vol.name}`);
          continue;
        }
        const snap = (await client.list<OntapSnapshot>(`/storage/volumes/${vol.uuid}/snapshots`, { name: args.name, fields: 'uuid' }, signal))[0];
        if (snap) await client.write({ method: 'PATCH', path: `/storage/volumes/${vol.uuid}/snapshots/${snap.uuid}`, async: true, signal, body: { comment } }, `comment snapshot ${vol.name}`);
      }
      const made = await findSet(args.name, signal);
      if (!made) throw providerError('transient', `snapshot set ${args.name} was created but is not listed`, { provider: 'ontap', context: { snapshot: args.name } });
      return made;
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotSet[]> {
      const prefix = args.prefix ?? '';
      return toSets(await volSnaps(`${prefix}*`, opts?.signal)).filter((s) => s.name.startsWith(prefix));
    },

    async deleteSnapshot(args: { name: string }, opts?: CallOptions): Promise<void> {
      for (const { vol, snap } of await volSnaps(args.name, opts?.signal)) {
        if (snap.name !== args.name) continue;
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/storage/volumes/${vol.uuid}/snapshots/${snap.uuid}`, async: true, signal: opts?.signal }, `delete snapshot ${args.name} of ${vol.name}`);
      }
    },

    async present(args: { name: string; snapshotName: string; host: ProxyHost }, opts?: CallOptions): Promise<Presentation> {
      const signal = opts?.signal;
      const parts = (await volSnaps(args.snapshotName, signal)).filter((p) => p.snap.name === args.snapshotName).sort((a, b) => a.vol.name.localeCompare(b.vol.name));
      if (!parts.length) throw providerError('not_found', `no snapshot set named ${args.snapshotName} in SVM ${svm}`, { provider: 'ontap', context: { snapshot: args.snapshotName } });
      const igroup = await ensureIgroup(args.host, signal);
      const luns: PresentedLun[] = [];
      for (const [i, part] of parts.entries()) {
        const clone = `${ontapName(args.name)}_${i}`;
        const have = await client.list<OntapVolume>('/storage/volumes', { name: clone, 'svm.name': svm, fields: 'uuid,name' }, signal);
        if (!have.length) {
          await client.writeTolerating('already_exists', { method: 'POST', path: '/storage/volumes', async: true, idempotent: true, signal,
            body: { name: clone, svm: { name: svm }, clone: { is_flexclone: true, parent_volume: { name: part.vol.name }, parent_snapshot: { name: args.snapshotName } } } }, `FlexClone ${clone}`);
        }
        for (const lunId of part.luns) {
          const source = await lunById(lunId, signal);
          const cloneLunName = source.name.replace(`/vol/${part.vol.name}/`, `/vol/${clone}/`);
          const copy = (await client.list<OntapLun>('/storage/luns', { name: cloneLunName, 'svm.name': svm, fields: LUN_FIELDS }, signal))[0];
          if (!copy?.serial_number) throw providerError('transient', `LUN ${cloneLunName} of FlexClone ${clone} is not listed`, { provider: 'ontap', context: { volume: cloneLunName } });
          const lun = await mapLun(copy.name, igroup, signal);
          luns.push({ volumeId: lunId, sourceIdentity: ontapIdentityFromSerial(source.serial_number!), identity: ontapIdentityFromSerial(copy.serial_number), lun });
        }
      }
      return { name: args.name, snapshotName: args.snapshotName, host: igroup, luns };
    },

    async unpresent(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const base = ontapName(args.name);
      const clones = (await client.list<OntapVolume>('/storage/volumes', { name: `${base}_*`, 'svm.name': svm, fields: 'uuid,name' }, signal)).filter((v) => new RegExp(`^${base}_\\d+$`).test(v.name));
      for (const clone of clones) {
        const maps = await client.list<{ lun: { uuid: string }; igroup: { uuid: string } }>('/protocols/san/lun-maps', { 'lun.name': `/vol/${clone.name}/*`, 'svm.name': svm, fields: 'lun.uuid,igroup.uuid' }, signal);
        for (const m of maps) await client.writeTolerating('not_found', { method: 'DELETE', path: `/protocols/san/lun-maps/${m.lun.uuid}/${m.igroup.uuid}`, signal }, `unmap from ${clone.name}`);
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/storage/volumes/${clone.uuid}`, async: true, signal }, `delete FlexClone ${clone.name}`);
      }
    },

    async close() {
      await client.close();
    },
  };
}

/** ONTAP object names: letters, digits and `_`, starting with a letter or `_`. */
export function ontapName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(s) ? s : `_${s}`;
}

function sameLuns(set: SnapshotSet, volumeIds: string[]): SnapshotSet {
  const have = set.volumes.map((v) => v.volumeId).sort().join(',');
  const want = [...volumeIds].sort().join(',');
  if (have !== want) throw providerError('already_exists', `a snapshot set named ${set.name} exists for other LUNs (${have}, asked ${want})`, { provider: 'ontap', context: { snapshot: set.name } });
  return set;
}
