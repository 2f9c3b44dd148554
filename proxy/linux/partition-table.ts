import { HvsnapError } from '../../src/core/errors.js';

/** GPT "Microsoft basic data" (NTFS, ReFS, FAT volumes of Windows). */
export const GPT_BASIC_DATA = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';
/** MBR type 0x07 (NTFS/exFAT/HPFS). */
const MBR_NTFS = '7';

/** The partition the proxy mounts. Offsets and sizes in bytes. */
export interface DataPartition {
  /** 1-based partition number */
  number: number;
  /** the kernel's node name for it (`/dev/sdc2`); it may not exist when no udev runs */
  node: string;
  startBytes: number;
  sizeBytes: number;
  label: 'gpt' | 'dos';
}

interface SfdiskJson {
  partitiontable?: {
    label?: string;
    sectorsize?: number;
    partitions?: Array<{ node?: string; start?: number; size?: number; type?: string }>;
  };
}

/**
 * The largest basic-data partition of a disk, from `sfdisk --json` output. A CSV LUN carries one
 * NTFS volume plus small reserved partitions, so "largest basic data" is the volume.
 * Throws `proxy_failed` naming the device and the partition types it has when there is none.
 */
export function pickDataPartition(sfdiskOutput: string, device: string): DataPartition {
  let parsed: SfdiskJson;
  try {
    parsed = JSON.parse(sfdiskOutput) as SfdiskJson;
  } catch (e) {
    throw new HvsnapError('proxy_failed', `sfdisk --json ${device} printed no JSON partition table`, {
      cause: e,
      context: { path: device, step: 'partition-table' },
    });
  }
  const table = parsed.partitiontable;
  const label = table?.label;
  if (!table || (label !== 'gpt' && label !== 'dos')) {
    throw new HvsnapError('proxy_failed', `${device} has no GPT or MBR partition table (label ${label ?? 'none'})`, {
      context: { path: device, step: 'partition-table' },
    });
  }
  const sector = table.sectorsize ?? 512;
  const parts = table.partitions ?? [];
  const wanted = label === 'gpt' ? GPT_BASIC_DATA : MBR_NTFS;
  let best: DataPartition | undefined;
  for (const [i, p] of parts.entries()) {
    if ((p.type ?? '').toUpperCase() !== wanted || !p.size || p.start === undefined) continue;
    const node = p.node ?? `${device}${i + 1}`;
    const number = Number(/(\d+)$/.exec(node)?.[1] ?? i + 1);
    const candidate: DataPartition = { number, node, startBytes: p.start * sector, sizeBytes: p.size * sector, label };
    if (!best || candidate.sizeBytes > best.sizeBytes) best = candidate;
  }
  if (!best) {
    const types = parts.map((p) => p.type).join(', ') || 'no partitions';
    throw new HvsnapError('proxy_failed', `${device} has no basic-data partition (${label}; found ${types})`, {
      context: { path: device, step: 'partition-table' },
      hint: 'a CSV LUN holds one NTFS volume in a GPT basic-data partition; is this the right LUN?',
    });
  }
  return best;
}
