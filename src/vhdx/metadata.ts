import {
  MAX_BLOCK_SIZE,
  MAX_METADATA_ITEM,
  MAX_VIRTUAL_SIZE,
  META_FILE_PARAMETERS,
  META_LOGICAL_SECTOR_SIZE,
  META_PARENT_LOCATOR,
  META_PHYSICAL_SECTOR_SIZE,
  META_VIRTUAL_DISK_ID,
  META_VIRTUAL_DISK_SIZE,
  METADATA_TABLE_SIZE,
  MIN_BLOCK_SIZE,
} from './constants.js';
import { vhdxInvalid, vhdxUnsupported } from './errors.js';
import { readGuid, writeGuid } from './guid.js';
import { encodeParentLocator, parseParentLocator, type ParentLocator } from './parent-locator.js';
import type { Region } from './region-table.js';
import type { VhdxFile } from './vhdx-file.js';

/** The decoded metadata region (MS-VHDX §2.6). Sizes in bytes. */
export interface VhdxMetadata {
  blockSize: number;
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
  virtualSize: number;
  virtualDiskId: string;
  logicalSectorSize: 512 | 4096;
  physicalSectorSize: 512 | 4096;
  parentLocator?: ParentLocator;
}

const KNOWN = new Set([
  META_FILE_PARAMETERS,
  META_VIRTUAL_DISK_SIZE,
  META_VIRTUAL_DISK_ID,
  META_LOGICAL_SECTOR_SIZE,
  META_PHYSICAL_SECTOR_SIZE,
  META_PARENT_LOCATOR,
]);

interface Entry {
  itemId: string;
  offset: number;
  length: number;
  isUser: boolean;
  isRequired: boolean;
}

/** Reads and validates the metadata table and every required item. */
export async function readMetadata(file: VhdxFile, region: Region): Promise<VhdxMetadata> {
  const base = region.fileOffset;
  const where = (offset: number, structure: 'metadata' | 'parent_locator' = 'metadata') => ({ file: file.path, structure, offset });
  const table = await file.read(base, METADATA_TABLE_SIZE, 'metadata');
  if (table.toString('latin1', 0, 8) !== 'metadata') throw vhdxInvalid(where(base), 'bad signature (expected "metadata")');
  const count = table.readUInt16LE(10);
  if (count > 2047) throw vhdxInvalid(where(base + 10), `EntryCount ${count} exceeds 2047`);
  const entries: Entry[] = [];
  const spans: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const at = 32 + 32 * i;
    const flags = table.readUInt32LE(at + 24);
    const e: Entry = {
      itemId: readGuid(table, at),
      offset: table.readUInt32LE(at + 16),
      length: table.readUInt32LE(at + 20),
      isUser: (flags & 1) === 1,
      isRequired: (flags & 4) === 4,
    };
    if (e.length > MAX_METADATA_ITEM) throw vhdxInvalid(where(base + at + 20), `item ${e.itemId} Length ${e.length} exceeds 1 MiB`);
    if (e.length > 0 && (e.offset < METADATA_TABLE_SIZE || e.offset + e.length > region.length)) {
      throw vhdxInvalid(where(base + at + 16), `item ${e.itemId} at ${e.offset}+${e.length} lies outside the metadata region (64 KiB..${region.length})`);
    }
    if (entries.some((x) => x.itemId === e.itemId && x.isUser === e.isUser)) throw vhdxInvalid(where(base + at), `item ${e.itemId} appears twice`);
    if (!e.isUser && !KNOWN.has(e.itemId) && e.isRequired) throw vhdxUnsupported(where(base + at), `unknown required metadata item ${e.itemId}`);
    for (const [s, t] of spans) {
      if (e.length > 0 && e.offset < t && s < e.offset + e.length) throw vhdxInvalid(where(base + at + 16), `item ${e.itemId} overlaps another item`);
    }
    if (e.length > 0) spans.push([e.offset, e.offset + e.length]);
    entries.push(e);
  }
  const item = async (id: string, name: string, size?: number): Promise<{ buf: Buffer; at: number } | undefined> => {
    const e = entries.find((x) => x.itemId === id && !x.isUser);
    if (!e) return undefined;
    if (size !== undefined && e.length !== size) throw vhdxInvalid(where(base + e.offset), `${name} item is ${e.length} bytes, expected ${size}`);
    return { buf: await file.read(base + e.offset, e.length, 'metadata'), at: base + e.offset };
  };
  const need = async (id: string, name: string, size: number) => {
    const it = await item(id, name, size);
    if (!it) throw vhdxInvalid(where(base), `required metadata item ${name} (${id}) is missing`);
    return it;
  };

  const fp = await need(META_FILE_PARAMETERS, 'File Parameters', 8);
  const blockSize = fp.buf.readUInt32LE(0);
  const fpFlags = fp.buf.readUInt32LE(4);
  if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw vhdxInvalid(where(fp.at), `BlockSize ${blockSize} is not a power of two from 1 MiB to 256 MiB`);
  }
  const vs = await need(META_VIRTUAL_DISK_SIZE, 'Virtual Disk Size', 8);
  const virtualSize = Number(vs.buf.readBigUInt64LE(0));
  const lss = await need(META_LOGICAL_SECTOR_SIZE, 'Logical Sector Size', 4);
  const logicalSectorSize = lss.buf.readUInt32LE(0);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096)
    throw vhdxInvalid(where(lss.at), `LogicalSectorSize ${logicalSectorSize} is neither 512 nor 4096`);
  const pss = await need(META_PHYSICAL_SECTOR_SIZE, 'Physical Sector Size', 4);
  const physicalSectorSize = pss.buf.readUInt32LE(0);
  if (physicalSectorSize !== 512 && physicalSectorSize !== 4096)
    throw vhdxInvalid(where(pss.at), `PhysicalSectorSize ${physicalSectorSize} is neither 512 nor 4096`);
  if (virtualSize === 0 || virtualSize > MAX_VIRTUAL_SIZE || virtualSize % logicalSectorSize !== 0) {
    throw vhdxInvalid(where(vs.at), `VirtualDiskSize ${virtualSize} is not a positive multiple of ${logicalSectorSize} up to 64 TB`);
  }
  const id = await need(META_VIRTUAL_DISK_ID, 'Virtual Disk ID', 16);
  const hasParent = (fpFlags & 2) === 2;
  const md: VhdxMetadata = {
    blockSize,
    leaveBlocksAllocated: (fpFlags & 1) === 1,
    hasParent,
    virtualSize,
    virtualDiskId: readGuid(id.buf, 0),
    logicalSectorSize,
    physicalSectorSize,
  };
  if (hasParent) {
    const pl = await item(META_PARENT_LOCATOR, 'Parent Locator');
    if (!pl) throw vhdxInvalid(where(base), 'HasParent is set but the Parent Locator item is missing');
    md.parentLocator = parseParentLocator(pl.buf, file.path, pl.at);
  }
  return md;
}

/** Encodes a metadata table plus items (to be written at the start of the metadata region). */
export function encodeMetadata(md: VhdxMetadata): Buffer {
  const items: Array<{ id: string; data: Buffer; flags: number }> = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const fp = Buffer.alloc(8);
  fp.writeUInt32LE(md.blockSize, 0);
  fp.writeUInt32LE((md.leaveBlocksAllocated ? 1 : 0) | (md.hasParent ? 2 : 0), 4);
  items.push({ id: META_FILE_PARAMETERS, data: fp, flags: 4 });
  const vs = Buffer.alloc(8);
  vs.writeBigUInt64LE(BigInt(md.virtualSize));
  items.push({ id: META_VIRTUAL_DISK_SIZE, data: vs, flags: 6 });
  const id = Buffer.alloc(16);
  writeGuid(md.virtualDiskId, id, 0);
  items.push({ id: META_VIRTUAL_DISK_ID, data: id, flags: 6 });
  items.push({ id: META_LOGICAL_SECTOR_SIZE, data: u32(md.logicalSectorSize), flags: 6 });
  items.push({ id: META_PHYSICAL_SECTOR_SIZE, data: u32(md.physicalSectorSize), flags: 6 });
  if (md.hasParent && md.parentLocator) items.push({ id: META_PARENT_LOCATOR, data: encodeParentLocator(md.parentLocator), flags: 4 });
  const dataLen = items.reduce((n, it) => n + it.data.length, 0);
  const buf = Buffer.alloc(METADATA_TABLE_SIZE + dataLen);
  buf.write('metadata', 0, 'latin1');
  buf.writeUInt16LE(items.length, 10);
  let off = METADATA_TABLE_SIZE;
  items.forEach((it, i) => {
    const at = 32 + 32 * i;
    writeGuid(it.id, buf, at);
    buf.writeUInt32LE(off, at + 16);
    buf.writeUInt32LE(it.data.length, at + 20);
    buf.writeUInt32LE(it.flags, at + 24);
    it.data.copy(buf, off);
    off += it.data.length;
  });
  return buf;
}
