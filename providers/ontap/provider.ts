import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { ontapIdentityFromSerial, ontapSerialFromIdentity } from '../sdk/disk-identity.js';
import { providerError } from '../sdk/errors.js';
import { formatWwpn, normalizeIqn } from '../sdk/initiators.js';
import { fitName, NameRules, sanitizeName } from '../sdk/name-rules.js';
import { sleep as realSleep } from '../sdk/retry-delay.js';
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
import type { OntapClient, OntapLun, OntapSnapshot, OntapVolume } from './client.js';

export interface OntapProviderOptions {
  /** igroup `os_type` for hosts this driver creates; default from the host's OS (`windows` → `hyper_v`, `linux` → `linux`) */
  igroupOsType?: string;
  /** igroup `protocol` for hosts this driver creates */
  igroupProtocol: 'iscsi' | 'fcp' | 'mixed';
  /** how long a FlexClone's LUN may take to be listed after the clone job succeeded, ms (default 30 000) */
  lunAppearTimeoutMs?: number;
  /** for tests */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const LUN_FIELDS = 'uuid,name,serial_number,location.logical_unit,location.volume.name,location.volume.uuid,space.size';
const SNAP_FIELDS = 'uuid,name,create_time,comment';
const VOL_FIELDS = 'uuid,name,clone.is_flexclone';

/** A FlexVol snapshot of a set: which FlexVol, the snapshot, and the LUNs of the set it holds. */
interface VolSnap {
  vol: OntapVolume;
  snap: OntapSnapshot;
  luns: string[];
  cg: boolean;
}

/**
 * The NetApp ONTAP provider. A volume is a LUN (id: LUN uuid); a snapshot is taken of the FlexVol
 * holding it, so a set is one snapshot per FlexVol involved, and its handle holds each member's LUN
 * uuid, snapshot uuid and FlexVol uuid. Several FlexVols in a consistency group go through a
 * throw-away CG (Trident's recipe, NetApp/trident storage_drivers/ontap/api/abstraction_rest.go
 * `ConsistencyGroupSnapshot`): create, snapshot, delete — the delete on every path. CGs need ONTAP
 * 9.10 (array-apis.md §2; the 9.7 definition has no `/application/consistency-groups`).
 *
 * `present` makes a FlexClone of each FlexVol from the handle's snapshot and maps the clone's LUNs.
 * A FlexClone keeps the parent's snapshot (library.netapp.com ECMP1368859), so a name scan would
 * find the clone as one more "part" of the set: this driver never looks for parts by name, and a
 * name scan for idempotency skips every FlexClone.
 */
export function createOntapProvider(client: OntapClient, options: OntapProviderOptions): Provider {
  const svm = client.svm;
  const sleep = options.sleep ?? realSleep;
  let version: { generation: number; major: number; minor: number; full?: string } | undefined;
  const atLeast = (major: number) => !!version && (version.generation > 9 || (version.generation === 9 && version.major >= major));
  const cgSupported = () => !version || atLeast(10);
  /**
   * `DELETE /storage/volumes/{uuid}?force=true` skips the volume recovery queue; the parameter is
   * "Introduced in: 9.12" (docs.netapp.com/us-en/ontap-restapi-9131/delete-storage-volumes-.html) and
   * absent from the 9.7 definition, so it is sent only when the version is known to be 9.12 or later.
   * Without it a deleted clone stays in the queue for at least 12 hours, renamed and still using
   * aggregate space (kb.netapp.com "How to use the Volume Recovery Queue"). NetApp/trident sends the
   * same flag (storage_drivers/ontap/api/ontap_rest.go `destroyVolumeByNameAndStyle`, abstraction.go `VolumeDestroy`).
   */
  const forceDeleteSupported = () => atLeast(12);
  const capabilities = (): ProviderCapabilities => ({
    consistencyGroups: cgSupported(),
    presentation: 'copy',
    readOnlyPresentation: false,
    transports: ['iscsi', 'fc'],
  });
  let hostQueue: Promise<unknown> = Promise.resolve();

  async function cluster(signal?: AbortSignal) {
    const c = await client.get<{ name?: string; version?: { full?: string; generation?: number; major?: number; minor?: number } }>(
      '/cluster',
      { fields: 'name,version' },
      signal,
    );
    const v = c?.version;
    if (v?.generation !== undefined) version = { generation: v.generation, major: v.major ?? 0, minor: v.minor ?? 0, full: v.full };
    return c;
  }
  const knowVersion = async (signal?: AbortSignal) => {
    if (!version) await cluster(signal);
  };

  const lunById = async (uuid: string, signal?: AbortSignal) => {
    const lun = await client.get<OntapLun>(`/storage/luns/${encodeURIComponent(uuid)}`, { fields: LUN_FIELDS }, signal);
    if (!lun) throw providerError('not_found', `no ONTAP LUN with uuid ${uuid} in SVM ${svm}`, { provider: 'ontap', context: { volume: uuid } });
    return lun;
  };
  /** FlexVols that are not FlexClones: only they hold hvsnap's snapshot sets */
  const sourceVolumes = async (signal?: AbortSignal) =>
    (await client.list<OntapVolume>('/storage/volumes', { 'svm.name': svm, fields: VOL_FIELDS }, signal)).filter((v) => v.clone?.is_flexclone !== true);

  /** Name scan for create idempotency, listing and compensation only — never to find the parts of a set to present. */
  async function volSnaps(namePattern: string, signal?: AbortSignal): Promise<VolSnap[]> {
    const out: VolSnap[] = [];
    for (const vol of await sourceVolumes(signal)) {
      const snaps = await client.list<OntapSnapshot>(`/storage/volumes/${vol.uuid}/snapshots`, { name: namePattern, fields: SNAP_FIELDS }, signal);
      for (const snap of snaps) {
        const m = /^hvsnap cg=([01]) luns=([\w,-]*)$/.exec(snap.comment ?? '');
        if (!m) continue; // not one of ours
        out.push({ vol, snap, luns: m[2]!.split(',').filter(Boolean), cg: m[1] === '1' });
      }
    }
    return out;
  }

  function toHandles(list: VolSnap[]): SnapshotHandle[] {
    const byName = new Map<string, VolSnap[]>();
    for (const v of list) byName.set(v.snap.name, [...(byName.get(v.snap.name) ?? []), v]);
    return [...byName].map(([name, parts]) => ({
      name,
      id: parts
        .map((p) => p.snap.uuid)
        .sort()
        .join(','),
      consistencyGroup: parts.some((p) => p.cg),
      createdAt: parts.map((p) => p.snap.create_time ?? '').sort()[0] || new Date(0).toISOString(),
      volumes: parts.flatMap((p) => p.luns.map((lun) => ({ volumeId: lun, snapshotId: p.snap.uuid, containerId: p.vol.uuid }))),
    }));
  }

  const findSet = async (name: string, signal?: AbortSignal) => toHandles(await volSnaps(name, signal)).find((s) => s.name === name);

  async function cgSnapshot(name: string, vols: OntapVolume[], signal?: AbortSignal): Promise<void> {
    const cgName = fitName(`cg_${name}`, NameRules.ontapConsistencyGroup);
    const findCg = async () =>
      (await client.list<{ uuid: string }>('/application/consistency-groups', { name: cgName, 'svm.name': svm, fields: 'uuid' }, signal))[0];
    try {
      await client.writeTolerating(
        'already_exists',
        {
          method: 'POST',
          path: '/application/consistency-groups',
          async: true,
          idempotent: true,
          signal,
          body: { svm: { name: svm }, name: cgName, volumes: vols.map((v) => ({ name: v.name, provisioning_options: { action: 'add' } })) },
        },
        `create CG ${cgName}`,
      );
      const cg = await findCg();
      if (!cg)
        throw providerError('transient', `consistency group ${cgName} was created but is not listed`, { provider: 'ontap', context: { snapshot: name } });
      await client.writeTolerating(
        'already_exists',
        {
          method: 'POST',
          path: `/application/consistency-groups/${cg.uuid}/snapshots`,
          async: true,
          idempotent: true,
          signal,
          body: { name, consistency_type: 'crash' },
        },
        `CG snapshot ${name}`,
      );
    } finally {
      // the FlexVol snapshots outlive the CG: remove it on every path, also when its create "failed" late
      // (no signal: cleanup must not inherit a cancelled one)
      const cg = await findCg().catch(() => undefined);
      if (cg)
        await client.writeTolerating('not_found', { method: 'DELETE', path: `/application/consistency-groups/${cg.uuid}`, async: true }, `delete CG ${cgName}`);
    }
  }

  /** ONTAP spells WWPNs with colons, lower case (ontap-9.7.yaml igroup initiator examples; NetApp/trident utils/fcp/fcp.go). */
  const initiatorsOf = (host: HostSpec) => [
    ...(host.iqns ?? []).map(normalizeIqn),
    ...(host.wwns ?? []).map((w) => formatWwpn(w, 'colon-lower')),
    ...(host.nqns ?? []),
  ];

  /** The SVM's igroup that holds any of these initiators (GET igroups filtered by `initiators.name`). */
  async function findIgroup(host: HostSpec, signal?: AbortSignal): Promise<HostHandle | undefined> {
    const initiators = initiatorsOf(host);
    if (!initiators.length) return undefined;
    const found = await client.list<{ uuid: string; name: string }>(
      '/protocols/san/igroups',
      { 'svm.name': svm, 'initiators.name': initiators.join(','), fields: 'uuid,name' },
      signal,
    );
    return found[0] ? { id: found[0].uuid, name: found[0].name, created: false } : undefined;
  }

  async function ensureIgroup(host: HostSpec, signal?: AbortSignal): Promise<HostHandle> {
    const found = await findIgroup(host, signal);
    if (found) return found;
    const initiators = initiatorsOf(host);
    const name = fitName(host.name, NameRules.ontapIgroup);
    const osType = options.igroupOsType ?? (host.osType === 'linux' ? 'linux' : 'hyper_v');
    const made = await client.writeTolerating<{ records?: Array<{ uuid: string; name: string }> }>(
      'already_exists',
      {
        method: 'POST',
        path: '/protocols/san/igroups',
        query: { return_records: true },
        idempotent: true,
        signal,
        body: { svm: { name: svm }, name, protocol: options.igroupProtocol, os_type: osType, initiators: initiators.map((i) => ({ name: i })) },
      },
      `create igroup ${name}`,
    );
    const rec =
      made?.records?.[0] ??
      (await client.list<{ uuid: string; name: string }>('/protocols/san/igroups', { 'svm.name': svm, name, fields: 'uuid,name' }, signal))[0];
    if (!rec) throw providerError('transient', `igroup ${name} was created but is not listed`, { provider: 'ontap', context: { host: name } });
    return { id: rec.uuid, name: rec.name, created: !!made };
  }

  async function mapLun(lunName: string, igroup: string, signal?: AbortSignal): Promise<number | undefined> {
    const existing = await client.list<{ logical_unit_number?: number }>(
      '/protocols/san/lun-maps',
      { 'lun.name': lunName, 'igroup.name': igroup, 'svm.name': svm, fields: 'logical_unit_number' },
      signal,
    );
    if (existing[0]) return existing[0].logical_unit_number;
    const res = await client.write<{ records?: Array<{ logical_unit_number?: number }> }>(
      {
        method: 'POST',
        path: '/protocols/san/lun-maps',
        query: { return_records: true },
        signal,
        body: { svm: { name: svm }, lun: { name: lunName }, igroup: { name: igroup } },
      },
      `map ${lunName}`,
    );
    return res?.records?.[0]?.logical_unit_number;
  }

  /** A FlexClone's LUNs can be listed a little after the clone job succeeded: look again until they are. */
  async function cloneLun(clone: OntapVolume, logicalUnit: string, signal?: AbortSignal): Promise<OntapLun> {
    const deadline = Date.now() + (options.lunAppearTimeoutMs ?? 30_000);
    for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
      const lun = (
        await client.list<OntapLun>(
          '/storage/luns',
          { 'location.volume.uuid': clone.uuid, 'location.logical_unit': logicalUnit, 'svm.name': svm, fields: LUN_FIELDS },
          signal,
        )
      )[0];
      if (lun?.serial_number) return lun;
      if (Date.now() >= deadline)
        throw providerError(
          'transient',
          `LUN ${logicalUnit} of FlexClone ${clone.name} is not listed ${options.lunAppearTimeoutMs ?? 30_000} ms after the clone was made`,
          { provider: 'ontap', context: { volume: `/vol/${clone.name}/${logicalUnit}` } },
        );
      await sleep(wait, signal);
    }
  }

  async function target(protocol: 'iscsi' | 'fc', signal?: AbortSignal): Promise<PresentationTarget> {
    if (protocol === 'fc') {
      const lifs = await client.list<{ wwpn?: string }>('/network/fc/interfaces', { 'svm.name': svm, fields: 'wwpn' }, signal);
      return {
        transport: 'fc',
        wwpns: lifs
          .map((l) => l.wwpn)
          .filter((w): w is string => !!w)
          .map((w) => formatWwpn(w, 'plain-lower')),
      };
    }
    const service = (await client.list<{ target?: { name?: string } }>('/protocols/san/iscsi/services', { 'svm.name': svm, fields: 'target.name' }, signal))[0];
    const lifs = await client.list<{ ip?: { address?: string } }>(
      '/network/ip/interfaces',
      { 'svm.name': svm, services: 'data_iscsi', fields: 'ip.address' },
      signal,
    );
    return {
      transport: 'iscsi',
      iqns: service?.target?.name ? [service.target.name] : [],
      portals: lifs
        .map((l) => l.ip?.address)
        .filter((a): a is string => !!a)
        .map((a) => `${a}:3260`),
    };
  }

  return {
    name: 'ontap',
    get capabilities() {
      return capabilities();
    },

    async probe(_args, opts?: CallOptions) {
      const c = await cluster(opts?.signal);
      return { vendor: 'NetApp', model: 'ONTAP', version: c?.version?.full, capabilities: capabilities(), details: { cluster: c?.name ?? '', svm } };
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]> {
      await knowVersion(opts?.signal);
      const out: ArrayVolume[] = [];
      for (const identity of args.identities) {
        const serial = ontapSerialFromIdentity(identity);
        const lun = serial
          ? (await client.list<OntapLun>('/storage/luns', { serial_number: serial, 'svm.name': svm, fields: LUN_FIELDS }, opts?.signal))[0]
          : undefined;
        if (!lun?.serial_number)
          throw providerError(
            'not_found',
            `no ONTAP LUN in SVM ${svm} has identity ${identity.kind}.${identity.id}${serial ? '' : ' (not an ONTAP NAA id: 600a0980 + hex(serial))'}`,
            { provider: 'ontap', context: { volume: identity.id } },
          );
        out.push({ id: lun.uuid, name: lun.name, identity: ontapIdentityFromSerial(lun.serial_number), sizeBytes: lun.space?.size });
      }
      return out;
    },

    async checkSnapshot(args: { volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<void> {
      await knowVersion(opts?.signal);
      const vols = new Set<string>();
      for (const id of args.volumeIds) vols.add((await lunById(id, opts?.signal)).location?.volume?.name ?? '');
      if (args.consistencyGroup && vols.size > 1 && !cgSupported()) {
        throw providerError(
          'unsupported',
          `the LUNs are in ${vols.size} FlexVols (${[...vols].join(', ')}), and ONTAP ${version ? `${version.generation}.${version.major}.${version.minor}` : '(unknown version)'} has no consistency-group API (9.10 and later): move the LUNs of these VMs into one FlexVol, or upgrade ONTAP`,
          { provider: 'ontap', context: { svm } },
        );
      }
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotHandle> {
      const signal = opts?.signal;
      await this.checkSnapshot(args, opts);
      const vols = new Map<string, { vol: OntapVolume; luns: string[] }>();
      for (const id of args.volumeIds) {
        const l = await lunById(id, signal);
        const v = { uuid: l.location!.volume!.uuid!, name: l.location!.volume!.name! };
        vols.set(v.uuid, { vol: v, luns: [...(vols.get(v.uuid)?.luns ?? []), l.uuid] });
      }
      // idempotency: the name may be taken by a set of other LUNs (FlexClones are skipped: they carry their parent's snapshots)
      const existing = await findSet(args.name, signal);
      if (existing) return sameLuns(existing, args.volumeIds);
      const cg = args.consistencyGroup && vols.size > 1;
      const cgFlag = cg || (args.consistencyGroup && args.volumeIds.length > 1) ? 1 : 0;
      if (cg)
        await cgSnapshot(
          args.name,
          [...vols.values()].map((v) => v.vol),
          signal,
        );
      for (const { vol, luns: inVol } of vols.values()) {
        const comment = `hvsnap cg=${cgFlag} luns=${inVol.sort().join(',')}`;
        if (!cg) {
          await client.writeTolerating(
            'already_exists',
            { method: 'POST', path: `/storage/volumes/${vol.uuid}/snapshots`, async: true, idempotent: true, signal, body: { name: args.name, comment } },
            `snapshot ${vol.name}`,
          );
          continue;
        }
        const snap = (await client.list<OntapSnapshot>(`/storage/volumes/${vol.uuid}/snapshots`, { name: args.name, fields: 'uuid' }, signal))[0];
        if (snap)
          await client.write(
            { method: 'PATCH', path: `/storage/volumes/${vol.uuid}/snapshots/${snap.uuid}`, async: true, signal, body: { comment } },
            `comment snapshot ${vol.name}`,
          );
      }
      const made = await findSet(args.name, signal);
      if (!made)
        throw providerError('transient', `snapshot set ${args.name} was created but is not listed`, { provider: 'ontap', context: { snapshot: args.name } });
      return sameLuns(made, args.volumeIds);
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotHandle[]> {
      const prefix = args.prefix ?? '';
      return toHandles(await volSnaps(`${prefix}*`, opts?.signal)).filter((s) => s.name.startsWith(prefix));
    },

    async deleteSnapshot(args: { name: string; handle?: SnapshotHandle }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const handle = args.handle ?? (await findSet(args.name, signal));
      if (!handle) return;
      const parts = new Map(handle.volumes.map((v) => [`${v.containerId}/${v.snapshotId}`, v]));
      for (const v of parts.values()) {
        if (!v.containerId) continue;
        await client.writeTolerating(
          'not_found',
          { method: 'DELETE', path: `/storage/volumes/${v.containerId}/snapshots/${v.snapshotId}`, async: true, signal },
          `delete snapshot ${args.name} of FlexVol ${v.containerId}`,
        );
      }
    },

    ensureHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle> {
      // serialized: two presents to a new host must not both create its igroup
      const run = hostQueue.then(() => ensureIgroup(args.host, opts?.signal));
      hostQueue = run.catch(() => undefined);
      return run;
    },

    findHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle | undefined> {
      return findIgroup(args.host, opts?.signal);
    },

    async removeHost(args: { host: HostHandle }, opts?: CallOptions): Promise<void> {
      const maps = await client.list<unknown>('/protocols/san/lun-maps', { 'igroup.uuid': args.host.id, 'svm.name': svm, fields: 'lun.uuid' }, opts?.signal);
      if (maps.length)
        throw providerError('wrong_state', `igroup ${args.host.name} still has ${maps.length} LUN(s) mapped; not removed`, {
          provider: 'ontap',
          context: { host: args.host.name },
        });
      await client.writeTolerating(
        'not_found',
        { method: 'DELETE', path: `/protocols/san/igroups/${args.host.id}`, signal: opts?.signal },
        `delete igroup ${args.host.name}`,
      );
    },

    async present(args: { name: string; snapshot: SnapshotHandle; host: HostSpec }, opts?: CallOptions): Promise<Presentation> {
      const signal = opts?.signal;
      const igroup = await this.ensureHost({ host: args.host }, opts);
      const containers = [...new Set(args.snapshot.volumes.map((v) => v.containerId ?? ''))].sort();
      if (containers.includes(''))
        throw providerError('invalid', `snapshot handle ${args.snapshot.name} has a member without its FlexVol uuid (containerId)`, {
          provider: 'ontap',
          context: { snapshot: args.snapshot.name },
        });
      const luns: PresentedLun[] = [];
      for (const [i, containerId] of containers.entries()) {
        const members = args.snapshot.volumes.filter((v) => v.containerId === containerId);
        const parent = await client.get<OntapVolume>(`/storage/volumes/${containerId}`, { fields: VOL_FIELDS }, signal);
        const snap =
          parent && (await client.get<OntapSnapshot>(`/storage/volumes/${containerId}/snapshots/${members[0]!.snapshotId}`, { fields: 'uuid,name' }, signal));
        if (!parent || !snap)
          throw providerError('not_found', `snapshot ${args.snapshot.name} (${members[0]!.snapshotId}) of FlexVol ${containerId} is gone`, {
            provider: 'ontap',
            context: { snapshot: args.snapshot.name },
          });
        const cloneName = fitName(`${args.name}_${i}`, NameRules.ontapVolume);
        let clone = (
          await client.list<OntapVolume>(
            '/storage/volumes',
            { name: cloneName, 'svm.name': svm, fields: 'uuid,name,clone.is_flexclone,clone.parent_volume.name,clone.parent_snapshot.name' },
            signal,
          )
        )[0];
        if (!clone) {
          await client.writeTolerating(
            'already_exists',
            {
              method: 'POST',
              path: '/storage/volumes',
              async: true,
              idempotent: true,
              signal,
              body: {
                name: cloneName,
                svm: { name: svm },
                clone: { is_flexclone: true, parent_volume: { name: parent.name }, parent_snapshot: { name: snap.name } },
              },
            },
            `FlexClone ${cloneName}`,
          );
          clone = (
            await client.list<OntapVolume>(
              '/storage/volumes',
              { name: cloneName, 'svm.name': svm, fields: 'uuid,name,clone.is_flexclone,clone.parent_volume.name,clone.parent_snapshot.name' },
              signal,
            )
          )[0];
        }
        if (!clone)
          throw providerError('transient', `FlexClone ${cloneName} was created but is not listed`, { provider: 'ontap', context: { volume: cloneName } });
        if (clone.clone?.is_flexclone !== true || clone.clone.parent_volume?.name !== parent.name || clone.clone.parent_snapshot?.name !== snap.name) {
          throw providerError('already_exists', `volume ${cloneName} exists but is not a FlexClone of ${parent.name} from snapshot ${snap.name}`, {
            provider: 'ontap',
            context: { volume: cloneName },
          });
        }
        for (const m of members) {
          const source = await lunById(m.volumeId, signal);
          const copy = await cloneLun(clone, source.location?.logical_unit ?? source.name.split('/').pop()!, signal);
          // the one thing a backup proxy must never get: a source LUN
          if (copy.uuid === source.uuid || copy.location?.volume?.uuid !== clone.uuid) {
            throw providerError('invalid', `refusing to map ${copy.name}: it is not in FlexClone ${cloneName}`, {
              provider: 'ontap',
              context: { volume: copy.name },
            });
          }
          const lun = await mapLun(copy.name, igroup.name, signal);
          luns.push({
            volumeId: m.volumeId,
            sourceIdentity: ontapIdentityFromSerial(source.serial_number!),
            identity: ontapIdentityFromSerial(copy.serial_number!),
            lun,
          });
        }
      }
      const transport = (args.host.wwns?.length && !args.host.iqns?.length) || options.igroupProtocol === 'fcp' ? 'fc' : 'iscsi';
      return { name: args.name, snapshotName: args.snapshot.name, host: igroup.name, target: await target(transport, signal), luns };
    },

    async unpresent(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      await knowVersion(signal);
      // the clone names present() gives, found by a prefix scan of FlexClones only
      const names = new Set(Array.from({ length: 64 }, (_, i) => fitName(`${args.name}_${i}`, NameRules.ontapVolume)));
      const prefix = sanitizeName(args.name, NameRules.ontapVolume).slice(0, 100);
      const clones = (await client.list<OntapVolume>('/storage/volumes', { name: `${prefix}*`, 'svm.name': svm, fields: VOL_FIELDS }, signal)).filter(
        (v) => v.clone?.is_flexclone === true && names.has(v.name),
      );
      for (const clone of clones) {
        const maps = await client.list<{ lun: { uuid: string }; igroup: { uuid: string } }>(
          '/protocols/san/lun-maps',
          { 'lun.name': `/vol/${clone.name}/*`, 'svm.name': svm, fields: 'lun.uuid,igroup.uuid' },
          signal,
        );
        for (const m of maps)
          await client.writeTolerating(
            'not_found',
            { method: 'DELETE', path: `/protocols/san/lun-maps/${m.lun.uuid}/${m.igroup.uuid}`, signal },
            `unmap from ${clone.name}`,
          );
        await client.writeTolerating(
          'not_found',
          { method: 'DELETE', path: `/storage/volumes/${clone.uuid}`, ...(forceDeleteSupported() ? { query: { force: true } } : {}), async: true, signal },
          `delete FlexClone ${clone.name}`,
        );
      }
    },

    async close() {
      await client.close();
    },
  };
}

/** ONTAP object names: letters, digits and `_`, starting with a letter or `_` (see {@link NameRules.ontapVolume}). */
export function ontapName(name: string): string {
  return fitName(name, NameRules.ontapVolume);
}

function sameLuns(set: SnapshotHandle, volumeIds: string[]): SnapshotHandle {
  const have = set.volumes
    .map((v) => v.volumeId)
    .sort()
    .join(',');
  const want = [...volumeIds].sort().join(',');
  if (have !== want)
    throw providerError('already_exists', `a snapshot set named ${set.name} exists for other LUNs (${have}, asked ${want})`, {
      provider: 'ontap',
      context: { snapshot: set.name },
    });
  return set;
}
