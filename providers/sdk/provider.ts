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
  readonly capabilities: ProviderCapabilities;

  /** Reachable, authenticated, and what the array is. */
  probe(args: Record<string, never>, opts?: CallOptions): Promise<ProbeResult>;

  /** The array volumes behind host disk identities, in the same order. An unknown identity is `not_found`. */
  resolveVolumes(args: { identities: VolumeIdentity[] }, opts?: CallOptions): Promise<ArrayVolume[]>;

  /**
   * ONE point-in-time snapshot of all `volumeIds` (a consistency group when there are several and
   * `consistencyGroup` is true). Idempotent by `name`.
   */
  createSnapshot(
    args: { name: string; volumeIds: string[]; consistencyGroup: boolean },
    opts?: CallOptions,
  ): Promise<SnapshotSet>;

  /** Snapshot sets whose name starts with `prefix` (all of the provider's when omitted). */
  listSnapshots(args: { prefix?: string }, opts?: CallOptions): Promise<SnapshotSet[]>;

  /** Deletes a snapshot set and everything the provider made for it. Succeeds when missing. */
  deleteSnapshot(args: { name: string }, opts?: CallOptions): Promise<void>;

  /**
   * Makes a snapshot set visible to a proxy host, read-only where the array can, through a
   * presentable copy when the array needs one. Idempotent by `name`.
   */
  present(args: { name: string; snapshotName: string; host: ProxyHost }, opts?: CallOptions): Promise<Presentation>;

  /** Undoes {@link present}, deleting any copy. Succeeds when nothing is presented under `name`. */
  unpresent(args: { name: string }, opts?: CallOptions): Promise<void>;

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
}

export interface ProbeResult {
  vendor: string;
  model?: string;
  version?: string;
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

export interface SnapshotSet {
  name: string;
  /** provider id of the group snapshot, or of the single snapshot */
  id: string;
  consistencyGroup: boolean;
  createdAt: string;
  volumes: Array<{ volumeId: string; snapshotId: string }>;
}

/** The host a snapshot is presented to: an initiator identity the array understands. */
export interface ProxyHost {
  name: string;
  iqns?: string[];
  wwns?: string[];
  nqns?: string[];
}

export interface Presentation {
  name: string;
  snapshotName: string;
  host: string;
  luns: PresentedLun[];
}

export interface PresentedLun {
  /** the source volume this LUN is a point-in-time image of */
  volumeId: string;
  sourceIdentity: VolumeIdentity;
  /** identity of the presented LUN (a copy has its own) */
  identity: VolumeIdentity;
  lun?: number;
  /** for arrays whose presented image is a local folder (the lab): where it is */
  path?: string;
}

/** Everything a provider factory receives. */
export interface ProviderContext {
  logger: Logger;
}
