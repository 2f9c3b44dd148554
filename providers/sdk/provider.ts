import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import type { Logger } from '../../src/core/logger.js';

/**
 * The array side of a backup (CSI-like). A provider knows volumes, snapshots and presentations;
 * it knows nothing of Hyper-V, SSH or PowerShell.
 *
 * Rules every provider MUST follow (the conformance suite checks them):
 * - idempotent by caller-chosen name: creating an existing name returns the existing object;
 * - deleting or unpresenting something that is not there succeeds;
 * - every method takes one args object plus {@link CallOptions} and honours `signal`;
 * - failures are HvsnapErrors with code `provider_error` and a portable `context.kind`.
 */
export interface Provider {
  readonly name: string;
  /**
   * What the driver can do. May change once after {@link probe} (e.g. ONTAP consistency groups need
   * 9.10): callers read it after probing, never cache it before.
   */
  readonly capabilities: ProviderCapabilities;

  /** Reachable, authenticated, and what the array is (model, version, the capabilities that follow). */
  probe(args: Record<string, never>, opts?: CallOptions): Promise<ProbeResult>;

  /** The array volumes behind host disk identities, in the same order. An unknown identity is `not_found`. */
  resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]>;

  /**
   * Preconditions of a snapshot, checked before anything is created (on the host or the array): a
   * volume in a group the driver cannot use, SafeMode, a pod, a version without consistency groups.
   * Resolves when a {@link createSnapshot} with the same args can work; otherwise throws a provider
   * error (`unsupported`, `wrong_state`) whose message says why and what to do. Creates nothing.
   */
  checkSnapshot(args: { volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<void>;

  /**
   * ONE point-in-time snapshot of all `volumeIds` (a consistency group when there are several and
   * `consistencyGroup` is true). Returns a {@link SnapshotHandle}: the array's own ids, which the caller
   * journals and stores and passes to every later call. Idempotent by `name`: a retried create finds
   * its object by name AND verifies it covers the same volumes (else `already_exists`).
   */
  createSnapshot(args: { name: string; volumeIds: string[]; consistencyGroup: boolean }, opts?: CallOptions): Promise<SnapshotHandle>;

  /** Snapshot sets whose name starts with `prefix` (all of the provider's when omitted): for cleanup and doctor. */
  listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotHandle[]>;

  /**
   * Deletes a snapshot set and everything the provider made for it. Succeeds when missing. With
   * `handle` the driver works by the array's ids only; `name` alone is for compensating a create
   * whose answer was never recorded (a crash between the call and the journal).
   */
  deleteSnapshot(args: { name: string; handle?: SnapshotHandle }, opts?: CallOptions): Promise<void>;

  /**
   * The host object for these initiators on the array: found by initiator (normalized per vendor) or
   * created. Serialized per array; "already exists" from a concurrent create is success.
   * `created` tells whether this call made it, so the caller can journal its removal.
   */
  ensureHost(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle>;

  /**
   * Optional, read only: the host object {@link ensureHost} would find for these initiators
   * (`created: false`), or undefined when there is none. With it, a backup knows whether the host
   * was there before it asked for one, and `hvsnap cleanup` can name the host a run that died while
   * the array made it may have left (nothing can tell whose it is then, so it is never removed on a
   * guess). Without it, cleanup can only say what to check.
   */
  findHost?(args: { host: HostSpec }, opts?: CallOptions): Promise<HostHandle | undefined>;

  /** Removes a host hvsnap created. Succeeds when missing; `wrong_state` while it still has LUNs mapped. */
  removeHost(args: { host: HostHandle }, opts?: CallOptions): Promise<void>;

  /**
   * Makes the snapshot `snapshot` (a handle from {@link createSnapshot}) visible to `host` — a proxy or a
   * Hyper-V host, by its initiators — through a presentable copy when the array needs one: a second
   * presentation of the same snapshot under another name is a distinct copy, and a presented LUN is
   * never a source volume. Returns the {@link PresentationTarget} that finds exactly those LUNs.
   * Idempotent by `name`.
   */
  present(args: { name: string; snapshot: SnapshotHandle; host: HostSpec }, opts?: CallOptions): Promise<Presentation>;

  /** Undoes {@link present}, deleting any copy. Succeeds when nothing is presented under `name`. */
  unpresent(args: { name: string }, opts?: CallOptions): Promise<void>;

  /**
   * For copies that complete in the background (PowerMax SnapVX, FlashCopy): whether the snapshot is
   * usable yet, and how far along it is (0–1). Drivers whose snapshots are ready at once omit it.
   */
  snapshotReady?(args: { handle: SnapshotHandle }, opts?: CallOptions): Promise<{ ready: boolean; progress?: number }>;

  /** Releases sessions. Idempotent. */
  close?(): Promise<void>;
}

export interface ProviderCapabilities {
  /** can snapshot several volumes at one point in time */
  consistencyGroups: boolean;
  /** the most volumes one consistency-group snapshot may hold (undefined: no limit) */
  maxVolumesPerGroup?: number;
  /** `direct`: a snapshot can be presented as it is; `copy`: the provider clones it first */
  presentation: 'direct' | 'copy';
  /** the presented LUN is read-only on the array */
  readOnlyPresentation: boolean;
  /** transports `present` can give (default: iscsi and fc) */
  transports?: Transport[];
  /** snapshots complete in the background: the driver implements `snapshotReady` */
  backgroundCopy?: boolean;
}

export interface ProbeResult {
  vendor: string;
  model?: string;
  version?: string;
  /** the capabilities that follow from model and version (the same object `capabilities` gives after this call) */
  capabilities?: ProviderCapabilities;
  /** anything worth showing in `hvsnap doctor` */
  details?: Record<string, string | number | boolean>;
}

export interface ArrayVolume {
  /** the provider's id for the volume (opaque to callers) */
  id: string;
  name: string;
  identity: VolumeIdentity;
  sizeBytes?: number;
}

/**
 * A snapshot set as the array knows it: JSON, journaled before anything else uses it and stored in
 * the manifest. Every later call takes it; drivers find their objects by these ids, never by a name scan.
 */
export interface SnapshotHandle {
  /** the caller-chosen name (for idempotency of the create) */
  name: string;
  /** provider id of the group snapshot, or of the single snapshot */
  id: string;
  /** the array's id of the group the snapshot was taken through (protection group, volume group, CG), if any */
  groupId?: string;
  consistencyGroup: boolean;
  createdAt: string;
  volumes: Array<{
    volumeId: string;
    /** the array's id of this member's snapshot */
    snapshotId: string;
    /** the array's id of what holds it, where that is not the volume (ONTAP: the FlexVol uuid) */
    containerId?: string;
  }>;
  /** false while a background copy runs (see {@link Provider.snapshotReady}); absent means ready */
  ready?: boolean;
  /** small vendor facts the driver needs later (strings only; no secrets) */
  attributes?: Record<string, string>;
}

/** @deprecated the v1 name of {@link SnapshotHandle} */
export type SnapshotSet = SnapshotHandle;

/** How a host reaches presented LUNs. `folder`: the lab's local folders. */
export type Transport = 'iscsi' | 'fc' | 'nvme' | 'folder';

/**
 * A host a snapshot is presented to — the backup proxy, or a Hyper-V host for instant restore — by
 * its initiators. Drivers normalize them per vendor (WWPN case and colons).
 */
export interface HostSpec {
  name: string;
  iqns?: string[];
  /** FC WWPNs, any of `10:00:00:00:c9:12:34:56`, `10000000C9123456` */
  wwns?: string[];
  nqns?: string[];
  /** the host's OS, for the array's host/igroup type (default `windows`) */
  osType?: 'windows' | 'linux';
}

/** @deprecated the v1 name of {@link HostSpec} */
export type ProxyHost = HostSpec;

/** The array's host object. */
export interface HostHandle {
  /** the array's id (or name, where the array addresses hosts by name) */
  id: string;
  name: string;
  /** true when {@link Provider.ensureHost} created it in this call */
  created: boolean;
}

/** Where the presented LUNs are: what a proxy needs to find exactly them, and nothing else. */
export interface PresentationTarget {
  transport: Transport;
  /** iSCSI portals `address:port` */
  portals?: string[];
  /** iSCSI target IQN(s) */
  iqns?: string[];
  /** FC target port WWPNs, 16 lower-case hex digits */
  wwpns?: string[];
  /** NVMe subsystem NQN */
  nqn?: string;
}

export interface Presentation {
  name: string;
  snapshotName: string;
  /** the array's host object the LUNs are mapped to */
  host: string;
  target: PresentationTarget;
  luns: PresentedLun[];
}

export interface PresentedLun {
  /** the source volume this LUN is a point-in-time image of */
  volumeId: string;
  sourceIdentity: VolumeIdentity;
  /** identity of the presented LUN: NAA for SCSI, EUI-64/NGUID (`eui`) for NVMe; never a source volume's */
  identity: VolumeIdentity;
  lun?: number;
  /** for arrays whose presented image is a local folder (the lab): where it is */
  path?: string;
}

/** Everything a provider factory receives. */
export interface ProviderContext {
  logger: Logger;
}
