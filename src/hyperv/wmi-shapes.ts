/**
 * The JSON our .ps1 scripts write, named after the WMI classes and properties they come from
 * (reference/hyperv-wmi.md). Raw on purpose: the scripts report what WMI said and the TypeScript
 * side decides what it means, so the rules (job states, return codes, matching) are tested here.
 * Every array may arrive as a single object or null (ConvertTo-Json's habit): read them with asArray.
 */

/** `x` as an array: null/undefined → [], a single value → [x]. */
export function asArray<T>(x: T | T[] | null | undefined): T[] {
  if (x === null || x === undefined) return [];
  return Array.isArray(x) ? x : [x];
}

/** A Msvm_ConcreteJob as the job helper last saw it. */
export interface WmiJob {
  InstanceID: string;
  JobState: number;
  JobType?: number;
  ErrorCode?: number;
  ErrorDescription?: string | null;
  ErrorSummaryDescription?: string | null;
  PercentComplete?: number;
  /** GetErrorEx, rendered Msvm_Error messages */
  Errors?: string[] | string | null;
}

/** One method call: its ReturnValue and, for 4096, the job as it stood when the script stopped waiting. */
export interface WmiMethodResult {
  Method: string;
  ReturnValue: number;
  Job?: WmiJob | null;
  /** InstanceIDs / names of the objects the job affected (Msvm_AffectedJobElement), read before the job expires */
  Affected?: string[] | string | null;
}

/**
 * A virtual hard disk's Msvm_StorageAllocationSettingData (InstanceID ends in `\L`; the drive's RASD
 * ends in `\D`), with what Msvm_ImageManagementService.GetVirtualHardDiskSettingData says of the file.
 */
export interface WmiDisk {
  InstanceID: string;
  /** HostResource[0] */
  Path: string;
  /** Msvm_VirtualHardDiskSettingData.VirtualDiskId (the VHDX virtual disk id) */
  VirtualDiskId?: string | null;
  /** Msvm_VirtualHardDiskSettingData.MaxInternalSize, bytes */
  Size?: number | null;
  /** Msvm_VirtualHardDiskSettingData.Format: VHD, VHDX, VHDSet */
  Format?: string | null;
  /** the parent chain of a differencing disk (ParentPath, walked), nearest first */
  ParentPaths?: string[] | string | null;
}

/** A Msvm_ComputerSystem with its realized Msvm_VirtualSystemSettingData. */
export interface WmiVm {
  Name: string;
  ElementName: string;
  /** VSSD Version, "major.minor" */
  Version: string;
  /** VSSD VirtualSystemSubType: Microsoft:Hyper-V:SubType:1 | 2 */
  VirtualSystemSubType?: string | null;
  EnabledState?: number;
  OperationalStatus?: number[] | number | null;
  /** CollectionIDs of the Msvm_VirtualSystemCollection groups it is a member of */
  Groups?: string[] | string | null;
  Disks?: WmiDisk[] | WmiDisk | null;
  /** set instead of Disks when reading a disk's facts failed (the listing of the other VMs goes on) */
  DiskError?: string | null;
}

/** get-vms.ps1 */
export interface WmiVmList {
  ComputerName: string;
  Vms: WmiVm[] | WmiVm | null;
}

/** A recovery snapshot (VSSD with VirtualSystemType Microsoft:Hyper-V:Snapshot:Recovery). */
export interface WmiSnapshot {
  InstanceID: string;
  ElementName: string;
  VirtualSystemType: string;
  VirtualSystemIdentifier: string;
  CreationTime?: string | null;
  Disks?: WmiDisk[] | WmiDisk | null;
}

/** A Msvm_VirtualSystemReferencePoint, with the hvsnap name from the registry beside the VM config. */
export interface WmiReferencePoint {
  InstanceID: string;
  VirtualSystemIdentifier: string;
  ElementName?: string | null;
  /** name recorded by hvsnap when it converted the checkpoint */
  HvsnapName?: string | null;
  /**
   * when hvsnap converted it (ISO 8601, host clock), from hvsnap's bookkeeping file beside the VM
   * configuration: Msvm_VirtualSystemReferencePoint has no CreationTime (MSDOC msvm-virtualsystemreferencepoint)
   */
  HvsnapCreatedAt?: string | null;
  ReferencePointType?: number;
  ConsistencyLevel?: number;
  VirtualDiskIdentifiers?: string[] | string | null;
  ResilientChangeTrackingIdentifiers?: string[] | string | null;
}

/** create-checkpoint.ps1, get-checkpoint.ps1: the snapshot when done, the result when it failed or is pending. */
export interface WmiCheckpointAnswer {
  VmName: string;
  Result?: WmiMethodResult | null;
  Snapshot?: WmiSnapshot | null;
  /** the snapshot already existed under this name */
  Existing?: boolean;
  /** the VM's own disks, to match the snapshot's disks to them by slot */
  VmDisks?: WmiDisk[] | WmiDisk | null;
}

/** convert-checkpoint.ps1 */
export interface WmiConvertAnswer {
  Result?: WmiMethodResult | null;
  ReferencePoint?: WmiReferencePoint | null;
  /** the VM's current disks, to match VirtualDiskIdentifiers to VHDX ids */
  Disks?: WmiDisk[] | WmiDisk | null;
}

/** get-changes.ps1: one or more pages of GetVirtualDiskChanges. */
export interface WmiChangesAnswer {
  Result?: WmiMethodResult | null;
  /** the disk offset (bytes) up to which changes were reported; continue from there */
  ProcessedUntil: number;
  ChangedByteOffsets?: number[] | number | null;
  ChangedByteLengths?: number[] | number | null;
}

/** export-config.ps1 */
export interface WmiExportAnswer {
  Result?: WmiMethodResult | null;
  Files?: Array<{ Name: string; DataBase64: string }> | { Name: string; DataBase64: string } | null;
}

/** resolve-volume.ps1 */
export interface WmiVolumeAnswer {
  VolumeRoot: string;
  IsCsv: boolean;
  Disk?: {
    UniqueId?: string | null;
    /** a number (MSCluster_Disk, CimInstanceProperties) or the Storage module's name (`FCPH Name`) */
    UniqueIdFormat?: number | string | null;
    SerialNumber?: string | null;
    /** a number or the Storage module's name (`Fibre Channel`, `RAID`, `Storage Spaces`) */
    BusType?: number | string | null;
    FriendlyName?: string | null;
  } | null;
}

/** delete-checkpoint.ps1, delete-reference-point.ps1 */
export interface WmiDeleteAnswer {
  Gone: boolean;
  /** the VM is not on this node (gone, or migrated elsewhere) */
  VmAbsent?: boolean;
  VmName?: string;
  Result?: WmiMethodResult | null;
}

/** import-vm.ps1 */
export interface WmiImportAnswer {
  Result?: WmiMethodResult | null;
  Vm?: WmiVm | null;
}

/** list-vm-groups.ps1 */
export interface WmiGroup {
  CollectionID: string;
  ElementName: string;
  Members?: string[] | string | null;
}
