import type { HvsnapError } from '../core/errors.js';
import type { ByteRange, CallOptions, Checkpoint, ConfigFile, ConsistencyLevel, ReferencePoint, VmGroup, VmInfo, VolumeLocation } from '../core/types.js';

/**
 * The {@link Hypervisor} methods that run on one VM's host (their args name the VM by `vmId` or
 * `checkpoint.vmId`): what a per-host limit governs and what the lab counts in flight per host.
 */
export const HOST_OPERATIONS = [
  'createCheckpoint',
  'exportConfiguration',
  'changedRanges',
  'convertToReferencePoint',
  'deleteCheckpoint',
  'deleteReferencePoint',
  'listReferencePoints',
] as const;

/**
 * The host side of a backup, as the orchestrator needs it. Implemented by the WMI hypervisor
 * (PowerShell through a Shell) and by the lab. Every method takes one args object plus
 * {@link CallOptions}. Methods that delete MUST succeed when the object is already gone.
 * Errors are HvsnapErrors with host-side codes (`vm_not_found`, `rct_invalid`, ...).
 */
export interface Hypervisor {
  /** e.g. `lab`, `wmi` */
  readonly kind: string;

  /** VMs by name (all when `names` is omitted). A name that matches no VM is `vm_not_found`; two VMs with one name is `vm_ambiguous`. */
  listVms(args: { names?: string[] }, opts?: CallOptions): Promise<VmInfo[]>;

  listVmGroups(args: Record<string, never>, opts?: CallOptions): Promise<VmGroup[]>;

  /** The volume a host path lives on, and the page-83 identity of the disk behind it. */
  resolveVolume(args: { path: string }, opts?: CallOptions): Promise<VolumeLocation>;

  /**
   * Creates a recovery checkpoint at exactly `consistency`; does NOT fall back (the caller decides).
   * `app_consistency_failed` when the guest cannot give application consistency.
   * `name` is the hvsnap-tagged name; creating twice with one name returns the existing checkpoint.
   */
  createCheckpoint(args: { vmId: string; name: string; consistency: ConsistencyLevel }, opts?: CallOptions): Promise<Checkpoint>;

  /** The configuration of a checkpoint only (no virtual disks), as files. */
  exportConfiguration(args: { checkpoint: Checkpoint }, opts?: CallOptions): Promise<ConfigFile[]>;

  /**
   * The byte ranges of a frozen disk that changed since `sinceRctId`, covering the whole disk
   * (implementations page until the disk is processed). Sorted, non-overlapping.
   * `rct_invalid` when the id is unknown or tracking was reset: never an empty answer in that case.
   */
  changedRanges(args: { checkpoint: Checkpoint; diskId: string; sinceRctId: string }, opts?: CallOptions): Promise<ByteRange[]>;

  /** Converts the checkpoint into a reference point: its changes merge and the checkpoint is gone. */
  convertToReferencePoint(args: { checkpoint: Checkpoint }, opts?: CallOptions): Promise<ReferencePoint>;

  /** Deletes (merges) a checkpoint. MUST succeed when it is already gone. */
  deleteCheckpoint(args: { vmId: string; checkpointId: string }, opts?: CallOptions): Promise<void>;

  listReferencePoints(args: { vmId: string }, opts?: CallOptions): Promise<ReferencePoint[]>;

  /** MUST succeed when it is already gone. */
  deleteReferencePoint(args: { vmId: string; referencePointId: string }, opts?: CallOptions): Promise<void>;

  /**
   * Checkpoints and reference points whose name starts with `tagPrefix` (what hvsnap left behind).
   * `unanswered`: hosts of a cluster that could not be asked (their leftovers are unknown, not absent).
   */
  listLeftovers(
    args: { tagPrefix: string },
    opts?: CallOptions,
  ): Promise<{ checkpoints: Checkpoint[]; referencePoints: ReferencePoint[]; unanswered?: Array<{ host: string; error: HvsnapError }> }>;

  /**
   * Imports a VM from exported configuration files whose disks are already in place at `diskPaths`
   * (disk id → host path). `newId` regenerates the VM id (a restore beside the original).
   */
  importVm(args: { config: ConfigFile[]; diskPaths: Record<string, string>; newId: boolean; name?: string }, opts?: CallOptions): Promise<VmInfo>;

  /**
   * Optional: mends the host's own bookkeeping after a process was killed inside a call (the lab:
   * a deferred merge whose file is gone, drafts of dead processes). A real Hyper-V host keeps its
   * own state and has no such method. `hvsnap cleanup` calls it first. MUST be idempotent.
   */
  recover?(opts?: CallOptions): Promise<{ mended: string[] }>;

  /** Releases connections. Idempotent. */
  close?(): Promise<void>;
}
