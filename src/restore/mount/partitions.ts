import type { ReadableImage } from './chunked-disk.js';

/** A partition of a disk image. Offsets and sizes in bytes. */
export interface Partition {
  /** 1-based, in table order, as Linux numbers them (sda1, sda2, …) */
  number: number;
  offset: number;
  size: number;
  scheme: 'gpt' | 'mbr';
  /** the volume's boot sector says NTFS */
  ntfs: boolean;
}

const SECTOR = 512;
/** GPT entries we look at at most (a standard table holds 128) */
const MAX_GPT_ENTRIES = 256;

/**
 * The partitions of a disk image from its GPT (UEFI spec §5.3: header at LBA 1, "EFI PART") or,
 * without one, its MBR (four primary entries at byte 446; extended partitions are not followed).
 * 512-byte sectors, as the VHDX that hvsnap synthesizes declares. Empty when there is no table.
 */
export async function readPartitions(image: ReadableImage): Promise<Partition[]> {
  const mbr = await image.read(0, 2 * SECTOR);
  if (mbr.length < 2 * SECTOR || mbr.readUInt16LE(510) !== 0xaa55) return [];
  const found: Omit<Partition, 'ntfs'>[] = [];
  if (mbr.subarray(SECTOR, SECTOR + 8).toString('latin1') === 'EFI PART') {
    const entriesLba = Number(mbr.readBigUInt64LE(SECTOR + 72));
    const count = Math.min(mbr.readUInt32LE(SECTOR + 80), MAX_GPT_ENTRIES);
    const entrySize = mbr.readUInt32LE(SECTOR + 84);
    if (entrySize < 128 || entrySize > 4096) return [];
    const table = await image.read(entriesLba * SECTOR, count * entrySize);
    for (let i = 0; i < count && (i + 1) * entrySize <= table.length; i++) {
      const e = table.subarray(i * entrySize, (i + 1) * entrySize);
      if (e.subarray(0, 16).every((b) => b === 0)) continue; // unused entry
      const first = Number(e.readBigUInt64LE(32));
      const last = Number(e.readBigUInt64LE(40));
      if (last >= first) found.push({ number: i + 1, offset: first * SECTOR, size: (last - first + 1) * SECTOR, scheme: 'gpt' });
    }
  } else {
    for (let i = 0; i < 4; i++) {
      const e = mbr.subarray(446 + i * 16, 446 + (i + 1) * 16);
      const type = e[4];
      const start = e.readUInt32LE(8);
      const sectors = e.readUInt32LE(12);
      if (type === 0 || type === 0x05 || type === 0x0f || type === 0xee || sectors === 0) continue;
      found.push({ number: i + 1, offset: start * SECTOR, size: sectors * SECTOR, scheme: 'mbr' });
    }
  }
  const out: Partition[] = [];
  for (const p of found) {
    if (p.offset + p.size > image.size) continue; // a table that points past the disk is not trusted
    const boot = await image.read(p.offset, SECTOR);
    out.push({ ...p, ntfs: boot.subarray(3, 11).toString('latin1') === 'NTFS    ' });
  }
  return out;
}
