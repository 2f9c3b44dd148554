/**
 * Domain types shared by every room. Plain data: JSON-serialisable, no behaviour.
 * Units: every size and offset is in bytes; every duration in milliseconds; times are ISO-8601 strings.
 */

/** Options every async seam method takes as its second argument. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** A byte range of a virtual disk. */
export interface ByteRange {
  /** bytes from the start of the virtual disk */
  offset: number;
  /** bytes; > 0 */
  length: number;
}

/**
 * The identity of a physical disk (LUN) as the host and the array both see it: the SCSI page-83
 * designator. `id` is the canonical key: lowercase hex, no prefix (32 hex digits for NAA type 6,
 * 16 for EUI-64). Compare case-insensitively.
 */
export interface VolumeIdentity {
  kind: 'naa' | 'eui' | 'serial';
  id: string;
  /** the LUN serial number, when known */
  serial?: string;
}

/** Where a VM file lives: the volume it is on and its path relative to that volume's root. */
export interface VolumeLocation {
  /** page-83 identity of the disk behind the volume */
  identity: VolumeIdentity;
  /** the volume's root as the host sees it, e.g. `C:\ClusterStorage\Volume1` */
  volumeRoot: string;
  /** path of the file below volumeRoot, with `/` separators, no leading separator */
  relativePath: string;
}

export type ConsistencyLevel = 'application' | 'crash';

/** A virtual disk attached to a VM. */
export interface VmDisk {
  /** stable attachment id (the SASD InstanceID on Hyper-V): controller and slot, not the file */
  id: string;
  /** host path of the VHDX the VM currently uses */
  path: string;
  /** the VHDX's own virtual disk id (a GUID), which changes when the file is replaced */
  virtualDiskId: string;
  /** virtual size in bytes */
  sizeBytes: number;
}

export interface VmInfo {
  /** the VM id (GUID) */
  id: string;
  name: string;
  /** the host (cluster node) that owns the VM */
  host: string;
  /** configuration version, e.g. "9.0"; RCT needs 8.0 or later */
  configVersion: string;
  generation: 1 | 2;
  /** ids of the VM groups this VM belongs to */
  groups: string[];
  disks: VmDisk[];
}

/** A Hyper-V VM group (Msvm_VirtualSystemCollection): always planned as one consistency set. */
export interface VmGroup {
  id: string;
  name: string;
  vmIds: string[];
}

/** A disk as frozen by a recovery checkpoint: the base VHDX no longer written while the checkpoint exists. */
export interface FrozenDisk {
  diskId: string;
  virtualDiskId: string;
  /** host path of the frozen base VHDX */
  path: string;
  sizeBytes: number;
}

/** A recovery checkpoint (SnapshotType 32768). */
export interface Checkpoint {
  id: string;
  vmId: string;
  vmName: string;
  /** the tagged name, e.g. `hvsnap:<jobId>` */
  name: string;
  /** what was achieved, which may be less than what was asked for */
  consistency: ConsistencyLevel;
  createdAt: string;
  disks: FrozenDisk[];
}

/** The RCT id of one disk at a reference point, e.g. `rctX:5bfde23b:ce75:4303:b54f:6c18394f105c:00000001`. */
export interface DiskRctId {
  diskId: string;
  virtualDiskId: string;
  rctId: string;
}

/** A reference point (Msvm_VirtualSystemReferencePoint): the anchor of the next incremental. */
export interface ReferencePoint {
  id: string;
  vmId: string;
  /** the name of the checkpoint it was converted from */
  name: string;
  createdAt: string;
  disks: DiskRctId[];
}

/** A configuration file produced by a configuration-only export (vmcx, vmgs, vmrs ...). */
export interface ConfigFile {
  /** path relative to the export root, `/` separators */
  name: string;
  data: Uint8Array;
}
