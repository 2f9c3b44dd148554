import { MiB } from './constants.js';

/** Derived layout numbers of a VHDX (MS-VHDX §2.5). Sizes in bytes. */
export interface Geometry {
  virtualSize: number;
  blockSize: number;
  logicalSectorSize: number;
  /** payload blocks per sector-bitmap block: 2^23 × LSS / BlockSize */
  chunkRatio: number;
  payloadBlocks: number;
  sectorBitmapBlocks: number;
  /** BAT entries a reader needs (up to the last payload entry, and the last SB entry for differencing) */
  neededEntries: number;
  /** BAT entries a writer reserves: SB × (CR + 1) */
  writerEntries: number;
  /** bytes of sector bitmap per payload block: BlockSize / LSS / 8 */
  bitmapBytesPerBlock: number;
}

/** The geometry of a disk: sizes in bytes, LSS 512 or 4096, `hasParent` adds the SB entries a reader needs. */
export function geometry(virtualSize: number, blockSize: number, logicalSectorSize: number, hasParent: boolean): Geometry {
  const chunkRatio = (2 ** 23 * logicalSectorSize) / blockSize;
  const payloadBlocks = Math.ceil(virtualSize / blockSize);
  const sectorBitmapBlocks = Math.ceil(payloadBlocks / chunkRatio);
  const lastPayload = payloadBlocks - 1 + Math.floor((payloadBlocks - 1) / chunkRatio);
  const lastSb = (sectorBitmapBlocks - 1) * (chunkRatio + 1) + chunkRatio;
  return {
    virtualSize,
    blockSize,
    logicalSectorSize,
    chunkRatio,
    payloadBlocks,
    sectorBitmapBlocks,
    neededEntries: (hasParent ? Math.max(lastPayload, lastSb) : lastPayload) + 1,
    writerEntries: sectorBitmapBlocks * (chunkRatio + 1),
    bitmapBytesPerBlock: blockSize / logicalSectorSize / 8,
  };
}

/** BAT index of payload block `b`. */
export function payloadIndex(g: Geometry, b: number): number {
  return b + Math.floor(b / g.chunkRatio);
}

/** BAT index of the sector-bitmap entry of chunk `c`. */
export function sectorBitmapIndex(g: Geometry, c: number): number {
  return c * (g.chunkRatio + 1) + g.chunkRatio;
}

/** Bytes a writer reserves for the BAT region: the entries rounded up to 1 MiB. */
export function batRegionLength(g: Geometry): number {
  return Math.ceil((g.writerEntries * 8) / MiB) * MiB;
}

/** One piece of a virtual write that stays inside one payload block. */
export interface BlockPiece {
  /** payload block index */
  block: number;
  /** bytes from the start of that block */
  inBlock: number;
  /** the bytes of `data` that land in it */
  piece: Uint8Array;
}

/** Splits bytes written at virtual `offset` at payload-block boundaries, in order. */
export function* splitByBlock(g: Geometry, offset: number, data: Uint8Array): Generator<BlockPiece> {
  for (let at = 0; at < data.length;) {
    const pos = offset + at;
    const block = Math.floor(pos / g.blockSize);
    const inBlock = pos - block * g.blockSize;
    const n = Math.min(g.blockSize - inBlock, data.length - at);
    yield { block, inBlock, piece: data.subarray(at, at + n) };
    at += n;
  }
}
