import { HvsnapError } from '../core/errors.js';
import { HEADER_OFFSETS, MAX_BLOCK_SIZE, MAX_VIRTUAL_SIZE, MiB, MIN_BLOCK_SIZE, REGION_BAT, REGION_METADATA, REGION_TABLE_OFFSETS } from './constants.js';
import { batRegionLength, geometry, payloadIndex, type Geometry } from './geometry.js';
import { newGuid, normalizeGuid, ZERO_GUID } from './guid.js';
import { encodeFileIdentifier, encodeHeader } from './headers.js';
import { encodeMetadata, type VhdxMetadata } from './metadata.js';
import type { ParentLocator } from './parent-locator.js';
import { encodeRegionTable } from './region-table.js';
import { encodeBatEntry } from './bat.js';
import type { CreateVhdxOptions } from './types.js';
import type { VhdxFile } from './vhdx-file.js';

/** Where a new file's structures go. Offsets and lengths in bytes. */
export interface Layout {
  metadata: VhdxMetadata;
  geometry: Geometry;
  logOffset: number;
  logLength: number;
  metadataOffset: number;
  batOffset: number;
  batLength: number;
  /** the first payload block's offset */
  dataStart: number;
  fileWriteGuid: string;
  dataWriteGuid: string;
}

/** Payload block size when none is given (bytes), as Hyper-V uses for dynamic disks. */
export const DEFAULT_BLOCK_SIZE = 32 * MiB;
/** The creator string written into new files. */
export const CREATOR = 'hvsnap';

function bad(field: string, message: string): HvsnapError {
  return new HvsnapError('input_invalid', `VHDX option ${field}: ${message}`, { context: { field, structure: 'options' } });
}

/** Checks create options at once, naming the option that is wrong. */
export function checkCreateOptions(opts: CreateVhdxOptions): Required<Omit<CreateVhdxOptions, 'virtualDiskId'>> & { virtualDiskId: string } {
  const lss = opts.logicalSectorSize ?? 512;
  const pss = opts.physicalSectorSize ?? 4096;
  const bs = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (lss !== 512 && lss !== 4096) throw bad('logicalSectorSize', `${lss} is neither 512 nor 4096`);
  if (pss !== 512 && pss !== 4096) throw bad('physicalSectorSize', `${pss} is neither 512 nor 4096`);
  if (!Number.isSafeInteger(bs) || bs < MIN_BLOCK_SIZE || bs > MAX_BLOCK_SIZE || (bs & (bs - 1)) !== 0)
    throw bad('blockSize', `${bs} is not a power of two from 1 MiB to 256 MiB`);
  const vs = opts.virtualSize;
  if (!Number.isSafeInteger(vs) || vs <= 0 || vs > MAX_VIRTUAL_SIZE || vs % lss !== 0)
    throw bad('virtualSize', `${vs} is not a positive multiple of ${lss} bytes up to 64 TB`);
  let id: string;
  try {
    id = opts.virtualDiskId ? normalizeGuid(opts.virtualDiskId) : newGuid();
  } catch {
    throw bad('virtualDiskId', `${JSON.stringify(opts.virtualDiskId)} is not a GUID`);
  }
  return { virtualSize: vs, blockSize: bs, logicalSectorSize: lss, physicalSectorSize: pss, fixed: !!opts.fixed, virtualDiskId: id };
}

/** Plans a new file: log at 1 MiB, metadata at 2 MiB, BAT at 3 MiB, blocks after the BAT. */
export function planLayout(opts: CreateVhdxOptions, parentLocator?: ParentLocator): Layout {
  const o = checkCreateOptions(opts);
  const hasParent = !!parentLocator;
  const g = geometry(o.virtualSize, o.blockSize, o.logicalSectorSize, hasParent);
  const batLength = batRegionLength(g);
  const metadata: VhdxMetadata = {
    blockSize: o.blockSize,
    leaveBlocksAllocated: o.fixed && !hasParent,
    hasParent,
    virtualSize: o.virtualSize,
    virtualDiskId: o.virtualDiskId,
    logicalSectorSize: o.logicalSectorSize,
    physicalSectorSize: o.physicalSectorSize,
    ...(parentLocator ? { parentLocator } : {}),
  };
  return {
    metadata,
    geometry: g,
    logOffset: MiB,
    logLength: MiB,
    metadataOffset: 2 * MiB,
    batOffset: 3 * MiB,
    batLength,
    dataStart: 3 * MiB + batLength,
    fileWriteGuid: newGuid(),
    dataWriteGuid: newGuid(),
  };
}

/**
 * Writes the header section, metadata region and (for fixed disks) the BAT of a new file, and sizes the
 * file so that the log, metadata and BAT regions exist (as sparse zeros). Fixed disks get every block
 * allocated (FULLY_PRESENT) from `dataStart` on, sparse.
 */
export async function writeSkeleton(file: Pick<VhdxFile, 'write' | 'truncate'>, l: Layout): Promise<number> {
  await file.write(encodeFileIdentifier(CREATOR), 0);
  const h = {
    fileWriteGuid: l.fileWriteGuid,
    dataWriteGuid: l.dataWriteGuid,
    logGuid: ZERO_GUID,
    logVersion: 0,
    version: 1,
    logLength: l.logLength,
    logOffset: l.logOffset,
  };
  await file.write(encodeHeader({ ...h, sequenceNumber: 1n }), HEADER_OFFSETS[0]);
  await file.write(encodeHeader({ ...h, sequenceNumber: 2n }), HEADER_OFFSETS[1]);
  const rt = encodeRegionTable([
    { guid: REGION_BAT, fileOffset: l.batOffset, length: l.batLength },
    { guid: REGION_METADATA, fileOffset: l.metadataOffset, length: MiB },
  ]);
  await file.write(rt, REGION_TABLE_OFFSETS[0]);
  await file.write(rt, REGION_TABLE_OFFSETS[1]);
  await file.write(encodeMetadata(l.metadata), l.metadataOffset);
  let end = l.dataStart;
  if (l.metadata.leaveBlocksAllocated) {
    const g = l.geometry;
    const bat = Buffer.alloc(l.batLength);
    for (let b = 0; b < g.payloadBlocks; b++) {
      encodeBatEntry(bat, payloadIndex(g, b) * 8, 6, l.dataStart + b * g.blockSize);
    }
    await file.write(bat, l.batOffset);
    end = l.dataStart + g.payloadBlocks * g.blockSize;
  }
  await file.truncate(end);
  return end;
}
