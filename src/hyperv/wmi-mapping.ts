import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ByteRange, Checkpoint, ConsistencyLevel, DiskRctId, FrozenDisk, ReferencePoint, VmDisk, VmInfo, VolumeIdentity, VolumeLocation } from '../core/types.js';
import { asArray, type WmiDisk, type WmiReferencePoint, type WmiSnapshot, type WmiVm, type WmiVolumeAnswer } from './wmi-shapes.js';

/** Pure conversions from the scripts' WMI shapes to hvsnap's domain types. */

/** A GUID as hvsnap stores it: lowercase, no braces. */
export function normalizeGuid(s: string | null | undefined): string {
  return (s ?? '').trim().replace(/^\{|\}$/g, '').toLowerCase();
}

/**
 * The attachment slot of a disk, from a SASD InstanceID `Microsoft:<VM or snapshot GUID>\<controller>\<n>\<n>\D`:
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

export function toVmDisk(d: WmiDisk): VmDisk {
  return { id: d.InstanceID, path: d.Path, virtualDiskId: normalizeGuid(d.VirtualDiskId), sizeBytes: Number(d.Size ?? 0) };
}

export function toVmInfo(vm: WmiVm, host: string, logger: Logger): VmInfo {
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
    disks: asArray(vm.Disks).map(toVmDisk),
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
      sizeBytes: Number(d.Size ?? 0),
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
  opts: { frozen?: FrozenDisk[]; logger: Logger; vmName?: string; name?: string },
): ReferencePoint {
  const ids = asArray(rp.VirtualDiskIdentifiers);
  const rcts = asArray(rp.ResilientChangeTrackingIdentifiers);
  const disks: DiskRctId[] = [];
  if (ids.length !== rcts.length) {
    opts.logger.warn({ vm: opts.vmName, referencePoint: rp.InstanceID, disks: ids.length, rctIds: rcts.length }, 'reference point has not one RCT id per disk: all disks need a full backup');
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
        opts.logger.warn({ vm: opts.vmName, disk: disk.InstanceID, frozen: frozen?.virtualDiskId, now: virtualDiskId }, 'the VHDX of a disk changed during the backup: its next backup is full');
        return;
      }
      disks.push({ diskId: disk.InstanceID, virtualDiskId, rctId: rcts[i] });
    });
  }
  return {
    id: rp.InstanceID,
    vmId: rp.VirtualSystemIdentifier,
    name: opts.name ?? rp.HvsnapName ?? rp.ElementName ?? '',
    createdAt: rp.CreationTime ?? new Date().toISOString(),
    disks,
  };
}

/** Sorted, merged, clipped to the disk; zero-length and out-of-disk pieces dropped. */
export function normalizeRanges(offsets: number[], lengths: number[], sizeBytes: number, where: { vm?: string; disk: string }): ByteRange[] {
  if (offsets.length !== lengths.length) {
    throw new HvsnapError('internal', `GetVirtualDiskChanges gave ${offsets.length} offsets but ${lengths.length} lengths for disk ${where.disk}`, { context: where });
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
 * The page-83 identity behind a volume (reference §8.2): UniqueIdFormat 3 (FCPH name) is an NAA id,
 * 2 an EUI-64, 8 a SCSI name string that may carry either prefix; else the serial number. Storage
 * Spaces (BusType 16) and file-backed disks (15) are no array LUN.
 */
export function toVolumeLocation(answer: WmiVolumeAnswer, path: string, host: string): VolumeLocation {
  const d = answer.Disk;
  const context = { path, host };
  if (!d) throw new HvsnapError('not_found', `no disk found behind the volume of ${path} on ${host}`, { context });
  if (d.BusType === 16 || d.BusType === 15) {
    throw new HvsnapError('unsupported', `${path} on ${host} is on a ${d.BusType === 16 ? 'Storage Spaces' : 'file-backed'} disk, not an array LUN`, { context });
  }
  const raw = (d.UniqueId ?? '').trim();
  const hex = raw.replace(/^(naa|eui)\./i, '').replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  const serial = d.SerialNumber?.trim() || undefined;
  let identity: VolumeIdentity;
  if ((d.UniqueIdFormat === 3 || /^naa\./i.test(raw)) && hex.length >= 16) identity = { kind: 'naa', id: hex, serial };
  else if ((d.UniqueIdFormat === 2 || /^eui\./i.test(raw)) && hex.length >= 16) identity = { kind: 'eui', id: hex, serial };
  else if (serial) identity = { kind: 'serial', id: serial.toLowerCase(), serial };
  else throw new HvsnapError('not_found', `the disk behind ${path} on ${host} has no NAA/EUI id nor serial number (UniqueId "${raw}", format ${d.UniqueIdFormat})`, { context });
  const root = answer.VolumeRoot.replace(/\\+$/, '');
  const rel = path.slice(root.length).replace(/^\\+/, '').split('\\').join('/');
  return { identity, volumeRoot: root, relativePath: rel };
}
