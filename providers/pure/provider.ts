import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import { pureIdentityFromSerial, pureSerialFromIdentity } from '../sdk/disk-identity.js';
import { providerError } from '../sdk/errors.js';
import { providerErrorKind } from '../sdk/errors.js';
import { formatWwpn, normalizeIqn } from '../sdk/initiators.js';
import { fitName, NameRules, sanitizeName } from '../sdk/name-rules.js';
import type {
  ArrayVolume,
  HostHandle,
  HostSpec,
  Presentation,
  PresentationTarget,
  Provider,
  ProviderCapabilities,
  SnapshotHandle,
  SnapshotSet,
} from '../sdk/provider.js';
import type { PureArray, PureClient, PureConnection, PureHost, PurePgroupSnapshot, PureVolume, PureVolumeSnapshot } from './client.js';

export interface PureProviderOptions {
  /** eradicate (DELETE) after destroy (PATCH destroyed:true); false leaves objects recoverable until the array eradicates them */
  eradicate: boolean;
}

/** Purity from which `POST /volumes` takes `with_default_protection` and SafeMode exists (openstack/cinder pure.py, 6.3.4). */
const DEFAULT_PROTECTION_FROM = [6, 3, 4];

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
  const capabilities: ProviderCapabilities = { consistencyGroups: true, presentation: 'copy', readOnlyPresentation: false, transports: ['iscsi', 'fc'] };
  let purity: number[] | undefined;
  let hostQueue: Promise<unknown> = Promise.resolve();
  const knowPurity = async (signal?: AbortSignal) => {
    if (purity) return purity;
    const a = (await client.list<PureArray>('/arrays', {}, signal))[0];
    purity = (a?.version ?? '0').split('.').map((n) => Number.parseInt(n, 10) || 0);
    return purity;
  };
  const atLeast = (v: number[], min: number[]) => {
    for (let i = 0; i < min.length; i++) {
      if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i]!;
    }
    return true;
  };
  /** `pod::volume`: a volume in an ActiveCluster pod (openstack/cinder pure.py `_get_pod_for_volume`) */
  const podOf = (volume: string) => (volume.includes('::') ? volume.split('::')[0] : undefined);
  const copyName = (name: string, i: number) => fitName(`${name}-${i}`, NameRules.pureVolume);

  async function volumesByName(names: string[], signal?: AbortSignal): Promise<Map<string, PureVolume>> {
    const items = await client.list<PureVolume>('/volumes', { names: names.join(','), destroyed: false }, signal);
    return new Map(items.map((v) => [v.name, v]));
  }

  async function pgroupSet(pg: PurePgroupSnapshot, signal?: AbortSignal): Promise<SnapshotSet> {
    const group = pg.source?.name ?? pg.name.slice(0, pg.name.lastIndexOf('.'));
    const suffix = pg.suffix ?? pg.name.slice(group.length + 1);
    const members = await client.list<{ member?: { name?: string } }>('/protection-groups/volumes', { group_names: group }, signal);
    const names = members
      .map((m) => m.member?.name)
      .filter((n): n is string => !!n)
      .sort();
    return {
      name: suffix,
      id: pg.name,
      groupId: group,
      consistencyGroup: true,
      createdAt: isoTime(pg.created),
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
        name: suffix,
        id: sorted.map((s) => s.name).join(','),
        consistencyGroup: sorted.length > 1,
        createdAt: isoTime(sorted[0]!.created),
        volumes: sorted.map((s) => ({ volumeId: s.source!.name!, snapshotId: s.name })),
      };
    });
  }

  async function findSet(name: string, signal?: AbortSignal): Promise<SnapshotSet | undefined> {
    const suffix = fitName(name, NameRules.pureVolume);
    const pgs = (await client.list<PurePgroupSnapshot>('/protection-group-snapshots', { filter: `suffix=${quote(suffix)}`, destroyed: false }, signal)).filter(
      (pg) => (pg.source?.name ?? '').split('::').pop() === pgroupName(name),
    );
    if (pgs[0]) return { ...(await pgroupSet(pgs[0], signal)), name };
    const snaps = await client.list<PureVolumeSnapshot>('/volume-snapshots', { filter: `suffix=${quote(suffix)}`, destroyed: false }, signal);
    const set = volumeSets(snaps).find((s) => s.name === suffix);
    return set && { ...set, name };
  }

  /** Pure keeps WWNs as 16 upper-case hex digits and matches them exactly (openstack/cinder pure.py `_get_host` filters `wwns='<WWN upper>'`). */
  const initiatorsOf = (host: HostSpec) => ({
    iqns: (host.iqns ?? []).map(normalizeIqn),
    wwns: (host.wwns ?? []).map((w) => formatWwpn(w, 'plain-upper')),
    nqns: host.nqns ?? [],
  });

  /** The host that holds any of these initiators: GET /hosts filtered by each one in turn. */
  async function findHostNow(host: HostSpec, signal?: AbortSignal): Promise<HostHandle | undefined> {
    for (const [field, values] of Object.entries(initiatorsOf(host))) {
      for (const value of values) {
        const found = await client.list<PureHost>('/hosts', { filter: `${field}=${quote(value)}` }, signal);
        if (found[0]) return { id: found[0].name, name: found[0].name, created: false };
      }
    }
    return undefined;
  }

  async function ensureHostNow(host: HostSpec, signal?: AbortSignal): Promise<HostHandle> {
    const found = await findHostNow(host, signal);
    if (found) return found;
    const ini = initiatorsOf(host);
    const name = fitName(host.name, NameRules.pureVolume);
    const made = await client.writeTolerating('already_exists', {
      method: 'POST',
      path: '/hosts',
      query: { names: name },
      idempotent: true,
      signal,
      body: { ...(ini.iqns.length ? { iqns: ini.iqns } : {}), ...(ini.wwns.length ? { wwns: ini.wwns } : {}), ...(ini.nqns.length ? { nqns: ini.nqns } : {}) },
    });
    return { id: name, name, created: made !== undefined };
  }

  /** The array's target ports (openstack/cinder pure.py `_get_target_iscsi_ports` / `_get_array_wwns` read `GET /ports`). */
  async function target(host: HostSpec, signal?: AbortSignal): Promise<PresentationTarget> {
    const ports = await client.list<{ name?: string; iqn?: string | null; portal?: string | null; wwn?: string | null }>('/ports', {}, signal);
    if (host.wwns?.length && !host.iqns?.length) return { transport: 'fc', wwpns: ports.filter((p) => p.wwn).map((p) => formatWwpn(p.wwn!, 'plain-lower')) };
    const iscsi = ports.filter((p) => p.iqn && p.portal);
    return { transport: 'iscsi', portals: iscsi.map((p) => p.portal!), iqns: [...new Set(iscsi.map((p) => p.iqn!))] };
  }

  /** Protection groups live in the pod of their volumes (openstack/cinder pure.py `_get_pgroup_name`). */
  function pgroupName(name: string, pod?: string): string {
    const base = fitName(`${PG_PREFIX}${name}`, NameRules.pureVolume);
    return pod ? `${pod}::${base}` : base;
  }

  async function destroy(path: string, names: string[], signal?: AbortSignal): Promise<void> {
    if (!names.length) return;
    await client.writeTolerating('not_found', {
      method: 'PATCH',
      path,
      query: { names: names.join(',') },
      body: { destroyed: true },
      idempotent: true,
      signal,
    });
    if (!options.eradicate) return;
    try {
      await client.writeTolerating('not_found', { method: 'DELETE', path, query: { names: names.join(',') }, signal });
    } catch (e) {
      // SafeMode forbids eradication: the object stays destroyed and the array eradicates it in time
      if (providerErrorKind(e) !== 'wrong_state') throw e;
    }
  }

  return {
    name: 'pure',
    capabilities,

    async probe(_args, opts?: CallOptions) {
      const arrays = await client.list<PureArray>('/arrays', {}, opts?.signal);
      const a = arrays[0] ?? {};
      purity = (a.version ?? '0').split('.').map((n) => Number.parseInt(n, 10) || 0);
      return {
        vendor: 'Pure Storage',
        model: a.os ?? 'FlashArray',
        version: a.version,
        capabilities,
        details: { array: a.name ?? '', safeMode: atLeast(purity, DEFAULT_PROTECTION_FROM) },
      };
    },

    async resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]> {
      const out: ArrayVolume[] = [];
      for (const identity of args.identities) {
        const serial = pureSerialFromIdentity(identity);
        const found = serial ? await client.list<PureVolume>('/volumes', { filter: `serial=${quote(serial)}`, destroyed: false }, opts?.signal) : [];
        const v = found[0];
        if (!v)
          throw providerError(
            'not_found',
            `no Pure volume has identity ${identity.kind}.${identity.id}${serial ? ` (serial ${serial})` : ' (not a Pure NAA id: 624a9370 + serial)'}`,
            { provider: 'pure', context: { volume: identity.id } },
          );
        out.push({ id: v.name, name: v.name, identity: pureIdentityFromSerial(v.serial), sizeBytes: v.provisioned });
      }
      return out;
    },

    async checkSnapshot(args: { volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<void> {
      const found = await volumesByName(args.volumeIds, opts?.signal);
      const missing = args.volumeIds.filter((v) => !found.has(v));
      if (missing.length)
        throw providerError('not_found', `no Pure volume named ${missing.join(', ')}`, { provider: 'pure', context: { volume: missing.join(',') } });
      const pods = new Set(args.volumeIds.map(podOf));
      if (args.consistencyGroup && args.volumeIds.length > 1 && pods.size > 1) {
        throw providerError(
          'wrong_state',
          `the volumes are in different pods (${[...pods].map((p) => p ?? 'no pod').join(', ')}); a protection group lives in one pod, so they cannot be snapshotted at one point in time: keep the VMs of one set in one pod`,
          { provider: 'pure', context: { volume: args.volumeIds.join(',') } },
        );
      }
    },

    async createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotHandle> {
      const signal = opts?.signal;
      const existing = await findSet(args.name, signal);
      if (existing) return sameVolumes(existing, args.volumeIds);
      const suffix = fitName(args.name, NameRules.pureVolume);
      if (args.consistencyGroup && args.volumeIds.length > 1) {
        await this.checkSnapshot(args, opts);
        const pg = pgroupName(args.name, podOf(args.volumeIds[0]!));
        await client.writeTolerating('already_exists', { method: 'POST', path: '/protection-groups', query: { names: pg }, idempotent: true, signal });
        await client.writeTolerating('already_exists', {
          method: 'POST',
          path: '/protection-groups/volumes',
          query: { group_names: pg, member_names: args.volumeIds.join(',') },
          idempotent: true,
          signal,
        });
        await client.writeTolerating('already_exists', {
          method: 'POST',
          path: '/protection-group-snapshots',
          query: { source_names: pg },
          body: { suffix },
          idempotent: true,
          signal,
        });
      } else {
        // one call for all volumes: Pure takes them at one point in time
        await client.writeTolerating('already_exists', {
          method: 'POST',
          path: '/volume-snapshots',
          query: { source_names: args.volumeIds.join(',') },
          body: { suffix },
          idempotent: true,
          signal,
        });
      }
      const made = await findSet(args.name, signal);
      if (!made)
        throw providerError('transient', `snapshot set ${args.name} was created but is not listed`, { provider: 'pure', context: { snapshot: args.name } });
      return sameVolumes(made, args.volumeIds);
    },

    async listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotHandle[]> {
      const prefix = args.prefix ?? '';
      const pgs = await client.list<PurePgroupSnapshot>(
        '/protection-group-snapshots',
        { filter: `suffix=${quote(`${prefix}*`)}`, destroyed: false },
        opts?.signal,
      );
      const sets: SnapshotHandle[] = [];
      for (const pg of pgs) {
        const set = await pgroupSet(pg, opts?.signal);
        if ((pg.source?.name ?? '').split('::').pop() === pgroupName(set.name) && set.name.startsWith(prefix)) sets.push(set);
      }
      const snaps = await client.list<PureVolumeSnapshot>('/volume-snapshots', { filter: `suffix=${quote(`${prefix}*`)}`, destroyed: false }, opts?.signal);
      return [...sets, ...volumeSets(snaps).filter((s) => s.name.startsWith(prefix))];
    },

    async deleteSnapshot(args: { name: string; handle?: SnapshotHandle }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const set = args.handle ?? (await findSet(args.name, signal));
      if (set?.consistencyGroup && set.groupId) await destroy('/protection-group-snapshots', [set.id], signal);
      else if (set)
        await destroy(
          '/volume-snapshots',
          set.volumes.map((v) => v.snapshotId),
          signal,
        );
      // the protection group, also when an earlier attempt stopped before its snapshot
      const pg = set?.groupId ?? pgroupName(args.name, set ? podOf(set.volumes[0]!.volumeId) : undefined);
      await destroy('/protection-groups', [pg], signal);
    },

    ensureHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle> {
      const run = hostQueue.then(() => ensureHostNow(args.host, opts?.signal));
      hostQueue = run.catch(() => undefined);
      return run;
    },

    findHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle | undefined> {
      return findHostNow(args.host, opts?.signal);
    },

    async removeHost(args: { host: HostHandle }, opts?: CallOptions): Promise<void> {
      const conns = await client.list<PureConnection>('/connections', { host_names: args.host.id }, opts?.signal).catch((e) => {
        if (providerErrorKind(e) === 'not_found') return [];
        throw e;
      });
      if (conns.length)
        throw providerError('wrong_state', `Pure host ${args.host.name} still has ${conns.length} connection(s); not removed`, {
          provider: 'pure',
          context: { host: args.host.name },
        });
      await client.writeTolerating('not_found', { method: 'DELETE', path: '/hosts', query: { names: args.host.id }, signal: opts?.signal });
    },

    async present(args: { name: string; snapshot: SnapshotHandle; host: HostSpec }, opts?: CallOptions): Promise<Presentation> {
      const signal = opts?.signal;
      const host = await this.ensureHost({ host: args.host }, opts);
      const sources = await volumesByName(
        args.snapshot.volumes.map((v) => v.volumeId),
        signal,
      );
      const members = [...args.snapshot.volumes].sort((a, b) => a.volumeId.localeCompare(b.volumeId));
      // SafeMode arrays put new volumes in a default protection group unless told not to; a temporary copy must not be (pure.py passes with_default_protection)
      const protection = atLeast(await knowPurity(signal), DEFAULT_PROTECTION_FROM) ? { with_default_protection: false } : {};
      const luns = [];
      for (const [i, m] of members.entries()) {
        const copy = copyName(args.name, i);
        const made = await client.writeTolerating<PureVolume>('already_exists', {
          method: 'POST',
          path: '/volumes',
          query: { names: copy, ...protection },
          body: { source: { name: m.snapshotId } },
          idempotent: true,
          signal,
        });
        const vol = made?.[0] ?? (await volumesByName([copy], signal)).get(copy);
        if (!vol) throw providerError('transient', `copy ${copy} of ${m.snapshotId} is not listed`, { provider: 'pure', context: { volume: copy } });
        if (vol.source?.name && vol.source.name !== m.snapshotId)
          throw providerError('already_exists', `volume ${copy} exists but is a copy of ${vol.source.name}, not of ${m.snapshotId}`, {
            provider: 'pure',
            context: { volume: copy },
          });
        const conn =
          (await client.writeTolerating<PureConnection>('already_exists', {
            method: 'POST',
            path: '/connections',
            query: { host_names: host.id, volume_names: copy },
            idempotent: true,
            signal,
          })) ?? (await client.list<PureConnection>('/connections', { host_names: host.id, volume_names: copy }, signal));
        const source = sources.get(m.volumeId);
        if (!source)
          throw providerError('not_found', `source volume ${m.volumeId} of ${args.snapshot.name} is gone`, {
            provider: 'pure',
            context: { volume: m.volumeId },
          });
        luns.push({
          volumeId: m.volumeId,
          sourceIdentity: pureIdentityFromSerial(source.serial),
          identity: pureIdentityFromSerial(vol.serial),
          lun: conn[0]?.lun,
        });
      }
      return { name: args.name, snapshotName: args.snapshot.name, host: host.name, target: await target(args.host, signal), luns };
    },

    async unpresent(args: { name: string }, opts?: CallOptions): Promise<void> {
      const signal = opts?.signal;
      const names = new Set(Array.from({ length: 64 }, (_, i) => copyName(args.name, i)));
      const prefix = sanitizeName(args.name, NameRules.pureVolume).slice(0, 40);
      const copies = (await client.list<PureVolume>('/volumes', { filter: `name=${quote(`${prefix}*`)}`, destroyed: false }, signal)).filter((v) =>
        names.has(v.name),
      );
      for (const copy of copies) {
        const conns = await client.list<PureConnection>('/connections', { volume_names: copy.name }, signal);
        for (const c of conns) {
          if (c.host?.name)
            await client.writeTolerating('not_found', {
              method: 'DELETE',
              path: '/connections',
              query: { host_names: c.host.name, volume_names: copy.name },
              signal,
            });
        }
        // a destroyed volume keeps its name until eradicated (SafeMode: for days): rename it first, so the next present can use the name
        const parked = fitName(`${copy.name}-x${Date.now().toString(36)}`, NameRules.pureVolume);
        await client.writeTolerating('not_found', {
          method: 'PATCH',
          path: '/volumes',
          query: { names: copy.name },
          body: { name: parked },
          idempotent: false,
          signal,
        });
        await destroy('/volumes', [parked], signal);
      }
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
  const have = set.volumes
    .map((v) => v.volumeId)
    .sort()
    .join(',');
  const want = [...volumeIds].sort().join(',');
  if (have !== want)
    throw providerError('already_exists', `a snapshot set named ${set.name} exists for other volumes (${have}, asked ${want})`, {
      context: { snapshot: set.name },
    });
  return set;
}
