import { HvsnapError } from '../../src/core/errors.js';
import type { VolumeIdentity } from '../../src/core/types.js';
import { normalizeIdentityId } from '../mount-map.js';

/** One disk as find-disks.ps1 reports it (Get-Disk / MSFT_Disk). Enumerations may arrive as numbers or names. */
export interface WindowsDisk {
  Number: number;
  UniqueId: string;
  UniqueIdFormat?: number | string | null;
  SerialNumber?: string | null;
  FriendlyName?: string | null;
  /** bytes */
  Size?: number;
  BusType?: number | string | null;
  PartitionStyle?: number | string | null;
  Guid?: string | null;
  Signature?: number | null;
  IsOffline: boolean;
  OfflineReason?: number | string | null;
  IsReadOnly: boolean;
  IsClustered?: boolean;
  IsBoot?: boolean;
  IsSystem?: boolean;
  /** target IQNs of the iSCSI sessions the disk is on (Get-IscsiSession -Disk); only when find-disks.ps1 was asked for them */
  IscsiTargetNodes?: string[] | null;
}

/** One partition as online-disk.ps1 reports it (Get-Partition). Offsets and sizes in bytes. */
export interface WindowsPartition {
  PartitionNumber: number;
  GptType?: string | null;
  MbrType?: number | null;
  Offset?: number;
  Size: number;
  DriveLetter?: string | null;
  AccessPaths?: string[] | null;
}

export type OfflineReason =
  'policy' | 'redundant_path' | 'snapshot' | 'collision' | 'resource_exhaustion' | 'critical_write_failures' | 'data_integrity_scan_required';

const REASONS: Record<number, OfflineReason> = {
  1: 'policy',
  2: 'redundant_path',
  3: 'snapshot',
  4: 'collision',
  5: 'resource_exhaustion',
  6: 'critical_write_failures',
  7: 'data_integrity_scan_required',
};

/** MSFT_Disk.OfflineReason as a name, from the number or from the name PowerShell may show; undefined when none or unknown. */
export function offlineReason(value: WindowsDisk['OfflineReason']): OfflineReason | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value === 'number' || /^\d+$/.test(value)) return REASONS[Number(value)];
  const squashed = value.toLowerCase().replace(/[^a-z]/g, '');
  return Object.values(REASONS).find((r) => r.replace(/_/g, '') === squashed);
}

/** MSFT_Disk.PartitionStyle as a name. */
export function partitionStyle(value: WindowsDisk['PartitionStyle']): 'gpt' | 'mbr' | 'raw' | undefined {
  const v = String(value ?? '').toLowerCase();
  return v === '2' || v === 'gpt' ? 'gpt' : v === '1' || v === 'mbr' ? 'mbr' : v === '0' || v === 'raw' ? 'raw' : undefined;
}

/**
 * True when the disk is the LUN with this identity: the normalised UniqueId equals the id (or one
 * ends with the other, for vendors that render extra designator bytes), or the serials match.
 */
export function diskMatches(disk: WindowsDisk, identity: VolumeIdentity): boolean {
  const serial = identity.kind === 'serial' ? identity.id : identity.serial;
  if (serial && disk.SerialNumber && disk.SerialNumber.trim().toLowerCase() === serial.trim().toLowerCase()) return true;
  if (identity.kind === 'serial' || !disk.UniqueId) return false;
  const a = normalizeIdentityId(disk.UniqueId);
  const b = normalizeIdentityId(identity.id);
  if (a === b) return true;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return short.length >= 16 && long.endsWith(short);
}

/**
 * The disk that matched a LUN's identity must be on a session to the iSCSI target the presentation
 * named: a match elsewhere (another target, a local disk, a serial or a longer UniqueId that only
 * resembles it) is refused loudly rather than used. A disk reporting no session at all is refused too:
 * the association (Get-IscsiSession -Disk) is how Windows says where a disk comes from.
 */
export function checkDiskOnTarget(args: { disk: WindowsDisk; iqns: readonly string[]; lun: PresentedLunRef; host: string }): void {
  const { disk, iqns, lun, host } = args;
  const on = (disk.IscsiTargetNodes ?? []).map((n) => n.toLowerCase());
  if (on.some((n) => iqns.some((i) => i.toLowerCase() === n))) return;
  throw new HvsnapError(
    'proxy_failed',
    `disk ${disk.Number} on ${host} matches LUN ${lun.volumeId} (${lun.identity.kind}:${lun.identity.id}) but is not on the presented iSCSI target ${iqns.join(', ')} (${on.length ? `it is on ${on.join(', ')}` : 'it is on no iSCSI session'})`,
    {
      context: { disk: String(disk.Number), volume: lun.volumeId, step: 'find-disk', host },
      hint: `the identity also matches a disk that is not the presented LUN; check with Get-Disk -Number ${disk.Number} | Get-IscsiSession, and compare its UniqueId with the array's`,
    },
  );
}

/** The parts of a presented LUN a refusal names. */
interface PresentedLunRef {
  volumeId: string;
  identity: VolumeIdentity;
}

const describeDisk = (d: WindowsDisk) => `disk ${d.Number} (UniqueId ${d.UniqueId || 'none'}, serial ${d.SerialNumber ?? 'none'})`;

/**
 * Refuses a disk the proxy must not bring online, with a message that says why and what to do:
 * boot/system or clustered disks, a collision (the proxy also sees the source LUN), an offline
 * reason outside `allow`, and a GPT GUID or MBR signature that another online disk already has.
 */
export function checkDiskUsable(args: { disk: WindowsDisk; allDisks: readonly WindowsDisk[]; allow: readonly OfflineReason[]; lunId: string }): void {
  const { disk, allDisks, allow, lunId } = args;
  const fail = (reason: string, message: string, hint: string) => {
    throw new HvsnapError('proxy_failed', `${describeDisk(disk)} for LUN ${lunId}: ${message}`, {
      context: { disk: String(disk.Number), volume: lunId, step: 'check-disk', reason },
      hint,
    });
  };
  if (disk.IsBoot || disk.IsSystem) fail('boot_disk', 'is a boot or system disk of this proxy', 'the identity matches a local disk; check the presentation');
  if (disk.IsClustered) {
    fail('clustered', 'is a cluster disk', 'the proxy is a cluster node that sees the source LUN; use a proxy outside the cluster');
  }
  const reason = offlineReason(disk.OfflineReason);
  if (disk.IsOffline && reason === 'collision') {
    fail(
      'collision',
      'is offline because of a disk signature/GUID collision: this proxy also sees the source LUN (or another copy of it)',
      'use a proxy host that is not presented the source LUN; bringing the copy online would make Windows rewrite its signature',
    );
  }
  const style = partitionStyle(disk.PartitionStyle);
  const twin = allDisks.find(
    (o) =>
      o.Number !== disk.Number &&
      !o.IsOffline &&
      ((style === 'gpt' && !!disk.Guid && !!o.Guid && o.Guid.toLowerCase() === disk.Guid.toLowerCase()) ||
        (style === 'mbr' && !!disk.Signature && o.Signature === disk.Signature)),
  );
  if (twin) {
    fail(
      'collision',
      `has the same ${style === 'gpt' ? `GPT GUID ${disk.Guid}` : `MBR signature ${disk.Signature}`} as online disk ${twin.Number}: this proxy also sees the source LUN`,
      'use a proxy host that is not presented the source LUN',
    );
  }
  if (disk.IsOffline && reason === 'redundant_path') {
    fail('redundant_path', 'is offline as a redundant path (the LUN is seen through several paths)', 'install and configure MPIO on the proxy');
  }
  if (disk.IsOffline && reason && !allow.includes(reason)) {
    fail(reason, `is offline for reason ${reason}, which the proxy does not override`, 'check the disk in Disk Management or with Get-Disk on the proxy');
  }
}

const GPT_BASIC_DATA = '{ebd0a0a2-b9e5-4433-87c0-68b6b72699c7}';

/** The largest basic-data partition (GPT basic data, or MBR type 7); `proxy_failed` naming the disk when none. */
export function pickWindowsPartition(partitions: readonly WindowsPartition[], diskNumber: number, lunId: string): WindowsPartition {
  let best: WindowsPartition | undefined;
  for (const p of partitions) {
    const basic = (p.GptType ?? '').toLowerCase() === GPT_BASIC_DATA || p.MbrType === 7;
    if (basic && (!best || p.Size > best.Size)) best = p;
  }
  if (!best) {
    const found = partitions.map((p) => p.GptType || `MBR ${p.MbrType}`).join(', ') || 'no partitions';
    throw new HvsnapError('proxy_failed', `disk ${diskNumber} (LUN ${lunId}) has no basic-data partition (found ${found})`, {
      context: { disk: String(diskNumber), volume: lunId, step: 'pick-partition' },
    });
  }
  return best;
}
