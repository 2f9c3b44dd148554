import type { CallOptions, VolumeIdentity } from '../core/types.js';

/** A LUN presented to a host, as the array reported it. */
export interface HostLun {
  /** the presented LUN's own page-83 identity (a clone has its own, never the source volume's) */
  identity: VolumeIdentity;
  /** for the lab, whose LUNs are local folders: where this one is */
  path?: string;
}

/**
 * What a Hyper-V host does for an instant restore, beside the {@link Hypervisor} contract: see
 * storage the array just presented, bring it online writable, move a running VM's storage, and
 * start, stop and remove VMs. Every method takes one args object plus {@link CallOptions}; the
 * undoing ones (offline, remove, stop) MUST succeed when there is nothing left to undo.
 */
export interface InstantHost {
  /**
   * The host's own initiators, as the array knows the host by them: iSCSI node names (IQNs) and
   * Fibre Channel port WWPNs. Empty where the host reaches its storage otherwise (the lab's folders).
   */
  initiators(args: Record<string, never>, opts?: CallOptions): Promise<{ iqns: string[]; wwns: string[] }>;

  /** Re-enumerates the host's disks (Update-HostStorageCache), so a LUN presented a moment ago is seen. */
  rescanStorage(args: Record<string, never>, opts?: CallOptions): Promise<void>;

  /**
   * Brings a presented LUN online read-write and returns the host path of its volume's root
   * (e.g. `C:\ClusterStorage\hvsnap-1a2b`). Where its disk signature or GUID collides with a disk
   * the host already has, a new one is written first, so the original is never confused with it.
   * Idempotent: a LUN already online returns the same root.
   */
  onlineDisk(args: { lun: HostLun }, opts?: CallOptions): Promise<{ volumeRoot: string }>;

  /** Takes the LUN offline. `wrong_state`-like `vm_in_use` when a VM still has a disk on it. Succeeds when it is not online. */
  offlineDisk(args: { lun: HostLun }, opts?: CallOptions): Promise<void>;

  /**
   * Moves every disk of the VM below `destinationDir` (a host path) while it runs (Move-VMStorage;
   * WMI: Msvm_VirtualSystemMigrationService with a storage-only migration); the source files go.
   */
  moveVmStorage(args: { vmId: string; destinationDir: string }, opts?: CallOptions): Promise<void>;

  startVm(args: { vmId: string }, opts?: CallOptions): Promise<void>;

  /** Turns the VM off (hard). Succeeds when it is off or gone. */
  stopVm(args: { vmId: string }, opts?: CallOptions): Promise<void>;

  /** Removes the VM's definition (its disk files stay). Succeeds when it is gone. */
  removeVm(args: { vmId: string }, opts?: CallOptions): Promise<void>;

  /** Whether the VM exists and runs; undefined when there is no such VM. */
  vmState(args: { vmId: string }, opts?: CallOptions): Promise<{ running: boolean } | undefined>;
}
