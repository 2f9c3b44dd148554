import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type {
  ByteRange,
  Checkpoint,
  ConsistencyLevel,
  DiskRctId,
  FrozenDisk,
  ReferencePoint,
  VmDisk,
  VmInfo,
  VolumeIdentity,
  VolumeLocation,
} from '../core/types.js';
import { asArray, type WmiDisk, type WmiReferencePoint, type WmiSnapshot, type WmiVm, type WmiVolumeAnswer } from './wmi-shapes.js';

/** Pure conversions from the scripts' WMI shapes to hvsnap's domain types. */

/** A GUID as hvsnap stores it: lowercase, no braces. */
export function normalizeGuid(s: string | null | undefined): string {
  return (s ?? '')
    .trim()
    .replace(/^\{|\}$/g, '')
    .toLowerCase();
}

/**
 * The attachment slot of a disk, from a virtual-hard-disk SASD InstanceID
 * `Microsoft:<VM or snapshot GUID>\<controller>\<n>\<n>\L` (the drive's RASD ends in `\D`):
 * the owner GUID is dropped so a VM's disk and the same disk in its snapshot (or in a reference
 * point) compare equal. An id of another shape is compared whole.
 */
export function slotKey(instanceId: string): string {
  const m = /^Microsoft:[0-9A-Fa-f-]{36}(\\.*)$/.exec(instanceId);
  return (m ? m[1] : instanceId).toLowerCase();
}

/** Configuration version "major.minor" as a number pair compare: at least 8.0 for RCT. */
export function supportsRct(version: string): boolean {
  const [major] = version.split('.').map((p) => parseInt(p, 10));
  return Number.isFinite(major) && major >= 8;
}

/**
 * A VM's disk. Its virtual disk id and size are facts the backup cannot do without (matching RCT ids,
 * sizing the copy): a disk the host could not read them for is an error naming it, never size 0.
 */
export function toVmDisk(d: WmiDisk, where: { vm?: string; host?: string } = {}): VmDisk {
  const size = Number(d.Size ?? 0);
  const virtualDiskId = normalizeGuid(d.VirtualDiskId);
  if (!virtualDiskId || !(size > 0)) {
    throw new HvsnapError(
      'vhdx_invalid',
      `the host could not read virtual disk ${d.Path}${where.vm ? ` of VM ${where.vm}` : ''}${where.host ? ` on ${where.host}` : ''} (${d.Format ?? 'no disk settings'})`,
      {
        context: { ...where, disk: d.InstanceID, path: d.Path },
        hint: 'check that the file exists and that the account may read it (GetVirtualHardDiskSettingData)',
      },
    );
  }
  return { id: d.InstanceID, path: d.Path, virtualDiskId, sizeBytes: size };
}

export function toVmInfo(vm: WmiVm, host: string, logger: Logger): VmInfo {
  if (vm.DiskError) {
    throw new HvsnapError('vhdx_invalid', `the disks of VM ${vm.ElementName} on ${host} cannot be read: ${vm.DiskError}`, {
      context: { vm: vm.ElementName, host },
    });
  }
  const generation = /SubType:1$/.test(vm.VirtualSystemSubType ?? '') ? 1 : 2;
  if (!supportsRct(vm.Version)) {
    logger.warn({ vm: vm.ElementName, host, configVersion: vm.Version }, 'VM configuration version is below 8.0: no RCT, every backup of it will be full');
  }
  return {
    id: vm.Name,
    name: vm.ElementName,
    host,
    configVersion: vm.Version,
    generation,
    groups: asArray(vm.Groups),
    disks: asArray(vm.Disks).map((d) => toVmDisk(d, { vm: vm.ElementName, host })),
  };
}

/** A frozen disk as the WMI hypervisor reports it: with the parent chain when the frozen VHDX is a differencing disk. */
export interface WmiFrozenDisk extends FrozenDisk {
  /** host paths of the parents, nearest first; absent for a plain VHDX */
  parentPaths?: string[];
}

/** A recovery snapshot as a Checkpoint: its frozen disks matched to the VM's disks by slot. */
export function toCheckpoint(snap: WmiSnapshot, vm: { id: string; name: string }, vmDisks: WmiDisk[], consistency: ConsistencyLevel): Checkpoint {
  const bySlot = new Map(vmDisks.map((d) => [slotKey(d.InstanceID), d]));
  const disks: WmiFrozenDisk[] = asArray(snap.Disks).map((d) => {
    const parents = asArray(d.ParentPaths).filter(Boolean);
    return {
      diskId: bySlot.get(slotKey(d.InstanceID))?.InstanceID ?? d.InstanceID,
      virtualDiskId: normalizeGuid(d.VirtualDiskId),
      path: d.Path,
      sizeBytes: toVmDisk(d, { vm: vm.name }).sizeBytes,
      ...(parents.length ? { parentPaths: parents } : {}),
    };
  });
  return {
    id: snap.InstanceID,
    vmId: vm.id,
    vmName: vm.name,
    name: snap.ElementName,
    consistency,
    createdAt: snap.CreationTime ?? new Date().toISOString(),
    disks,
  };
}

/**
 * A reference point with its RCT id per disk. `VirtualDiskIdentifiers[i]` pairs with
 * `ResilientChangeTrackingIdentifiers[i]` (reference §4.2); each is matched to a VM disk by slot, and
 * when `frozen` (the checkpoint it came from) is given, the VHDX virtual disk id must agree too. A disk
 * that does not match is left out, so its next backup is a full one, never a wrong incremental.
 */
export function toReferencePoint(
  rp: WmiReferencePoint,
  vmDisks: WmiDisk[],
  opts: { frozen?: FrozenDisk[]; logger: Logger; vmName?: string; name?: string; requireRct?: boolean; createdAt?: string },
): ReferencePoint {
  const ids = asArray(rp.VirtualDiskIdentifiers);
  const rcts = asArray(rp.ResilientChangeTrackingIdentifiers);
  const disks: DiskRctId[] = [];
  if (opts.requireRct) {
    // a fresh reference point without an RCT id for a disk would make every later backup of it full,
    // silently: that is an error (doctor checks the same on existing reference points)
    const missing = (opts.frozen ?? []).filter((f) => {
      const at = ids.findIndex((id) => slotKey(id) === slotKey(f.diskId));
      return at < 0 || !String(rcts[at] ?? '').trim();
    });
    if (ids.length !== rcts.length || missing.length) {
      throw new HvsnapError(
        'reference_point_failed',
        `reference point ${rp.InstanceID} of VM ${opts.vmName ?? rp.VirtualSystemIdentifier} came back without an RCT id for ${missing.map((m) => m.diskId).join(', ') || 'some disks'}`,
        {
          context: { vm: opts.vmName, disk: missing[0]?.diskId },
          hint: 'is change tracking on for the VM (configuration version 8.0 or later)? hvsnap doctor --vm checks it',
        },
      );
    }
  }
  if (ids.length !== rcts.length) {
    opts.logger.warn(
      { vm: opts.vmName, referencePoint: rp.InstanceID, disks: ids.length, rctIds: rcts.length },
      'reference point has not one RCT id per disk: all disks need a full backup',
    );
  } else {
    const bySlot = new Map(vmDisks.map((d) => [slotKey(d.InstanceID), d]));
    ids.forEach((id, i) => {
      const disk = bySlot.get(slotKey(id));
      if (!disk) {
        opts.logger.warn({ vm: opts.vmName, referencePoint: rp.InstanceID, disk: id }, 'reference point names a disk the VM no longer has');
        return;
      }
      const virtualDiskId = normalizeGuid(disk.VirtualDiskId);
      const frozen = opts.frozen?.find((f) => f.diskId === disk.InstanceID);
      if (opts.frozen && (!frozen || frozen.virtualDiskId !== virtualDiskId || !virtualDiskId)) {
        opts.logger.warn(
          { vm: opts.vmName, disk: disk.InstanceID, frozen: frozen?.virtualDiskId, now: virtualDiskId },
          'the VHDX of a disk changed during the backup: its next backup is full',
        );
        return;
      }
      disks.push({ diskId: disk.InstanceID, virtualDiskId, rctId: rcts[i] });
    });
  }
  return {
    id: rp.InstanceID,
    vmId: rp.VirtualSystemIdentifier,
    name: opts.name ?? rp.HvsnapName ?? rp.ElementName ?? '',
    // Msvm_VirtualSystemReferencePoint has no CreationTime: the time is hvsnap's own record of the
    // conversion (its bookkeeping file); one hvsnap did not make has none, shown as the epoch
    createdAt: rp.HvsnapCreatedAt || opts.createdAt || UNKNOWN_TIME,
    disks,
  };
}

/** The creation time of a reference point hvsnap has no record of. */
export const UNKNOWN_TIME = new Date(0).toISOString();

/** Sorted, merged, clipped to the disk; zero-length and out-of-disk pieces dropped. */
export function normalizeRanges(offsets: number[], lengths: number[], sizeBytes: number, where: { vm?: string; disk: string }): ByteRange[] {
  if (offsets.length !== lengths.length) {
    throw new HvsnapError('internal', `GetVirtualDiskChanges gave ${offsets.length} offsets but ${lengths.length} lengths for disk ${where.disk}`, {
      context: where,
    });
  }
  const ranges = offsets
    .map((o, i) => ({ offset: Number(o), length: Math.min(Number(lengths[i]), sizeBytes - Number(o)) }))
    .filter((r) => r.length > 0 && r.offset >= 0 && r.offset < sizeBytes)
    .sort((a, b) => a.offset - b.offset);
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ ...r });
  }
  return out;
}

/**
 * MSFT_Disk enums by name, as the Storage module renders them (`Get-Disk` prints `FCPH Name`,
 * `Fibre Channel`, `RAID`, `Storage Spaces`, not numbers: MSFTDISK ValueMap/Values; the review's
 * public Get-Disk transcripts). Keys are lowercase with spaces removed; MSCluster_Disk and
 * CimInstanceProperties give the numbers, so both forms are accepted.
 */
const UNIQUE_ID_FORMATS: Record<string, number> = { vendorspecific: 0, vendorid: 1, eui64: 2, fcphname: 3, scsinamestring: 8 };
const BUS_TYPES: Record<string, number> = {
  unknown: 0,
  scsi: 1,
  atapi: 2,
  ata: 3,
  '1394': 4,
  ssa: 5,
  fibrechannel: 6,
  usb: 7,
  raid: 8,
  iscsi: 9,
  sas: 10,
  sata: 11,
  sd: 12,
  mmc: 13,
  virtual: 14,
  filebackedvirtual: 15,
  storagespaces: 16,
  spaces: 16,
  nvme: 17,
};

/** A CIM enum given as its number or its name; undefined when neither is known. */
export function cimEnum(value: number | string | null | undefined, names: Record<string, number>): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || !value.trim()) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  return names[value.replace(/[\s_-]/g, '').toLowerCase()];
}

/**
 * The page-83 identity behind a volume (reference §8.2): UniqueIdFormat 3 (FCPH name) is an NAA id,
 * 2 an EUI-64, 8 a SCSI name string that may carry either prefix; else the serial number. Storage
 * Spaces (BusType 16) and file-backed disks (15) are no array LUN. Both enums may arrive as numbers
 * or as the Storage module's names.
 */
export function toVolumeLocation(answer: WmiVolumeAnswer, path: string, host: string): VolumeLocation {
  const d = answer.Disk;
  const context = { path, host };
  if (!d) throw new HvsnapError('not_found', `no disk found behind the volume of ${path} on ${host}`, { context });
  const busType = cimEnum(d.BusType, BUS_TYPES);
  const format = cimEnum(d.UniqueIdFormat, UNIQUE_ID_FORMATS);
  if (busType === 16 || busType === 15) {
    throw new HvsnapError('unsupported', `${path} on ${host} is on a ${busType === 16 ? 'Storage Spaces' : 'file-backed'} disk, not an array LUN`, { context });
  }
  const raw = (d.UniqueId ?? '').trim();
  const hex = raw
    .replace(/^(naa|eui)\./i, '')
    .replace(/[^0-9a-fA-F]/g, '')
    .toLowerCase();
  const serial = d.SerialNumber?.trim() || undefined;
  let identity: VolumeIdentity;
  if ((format === 3 || /^naa\./i.test(raw)) && hex.length >= 16) identity = { kind: 'naa', id: hex, serial };
  else if ((format === 2 || /^eui\./i.test(raw)) && hex.length >= 16) identity = { kind: 'eui', id: hex, serial };
  else if (serial) identity = { kind: 'serial', id: serial.toLowerCase(), serial };
  else
    throw new HvsnapError(
      'not_found',
      `the disk behind ${path} on ${host} has no NAA/EUI id nor serial number (UniqueId "${raw}", format ${d.UniqueIdFormat})`,
      { context },
    );
  const root = answer.VolumeRoot.replace(/\\+$/, '');
  const rel = path.slice(root.length).replace(/^\\+/, '').split('\\').join('/');
  return { identity, volumeRoot: root, relativePath: rel };
}
