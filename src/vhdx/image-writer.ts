import { HEADER_OFFSETS, MiB, PayloadState, SECTOR_BITMAP_BLOCK_SIZE, SbState } from './constants.js';
import { newGuid, ZERO_GUID } from './guid.js';
import { encodeHeader, type VhdxHeader } from './headers.js';
import { payloadIndex, sectorBitmapIndex, splitByBlock } from './geometry.js';
import type { ParsedVhdx } from './parse-vhdx.js';
import type { VhdxReader } from './vhdx-reader.js';

/**
 * Writes into an open VHDX. Blocks are appended at the 1 MiB-aligned end of the file; data is written
 * before the BAT entry that makes it visible. In a differencing disk a write into a NOT_PRESENT block
 * makes it PARTIALLY_PRESENT and sets the sector-bitmap bits of the sectors written (edge sectors are
 * completed from the parent first), so unwritten sectors still read through to the parent.
 * The BAT is updated in place, without the log: hvsnap writes only files it owns and nobody reads
 * while it writes (a crash mid-write may leave the last allocation unreferenced, never wrong data).
 */
export class ImageWriter {
  private next: number;
  private headerUpdated = false;

  constructor(
    private readonly parsed: ParsedVhdx,
    private readonly reader: VhdxReader,
  ) {
    this.next = Math.ceil(parsed.file.size / MiB) * MiB;
  }

  /** Applies a replayed log to the file and clears LogGuid, as a writer must before its first write. */
  async commitReplayedLog(): Promise<void> {
    const { file } = this.parsed;
    if (!file.hasOverlay && this.parsed.headers.current.logGuid === ZERO_GUID) return;
    for (const [pos, sector] of file.overlaySectors()) await file.write(sector, pos);
    if (file.size > file.physicalSize) await file.truncate(file.size);
    file.clearOverlay();
    await file.sync();
    await this.updateHeader({ logGuid: ZERO_GUID });
    this.next = Math.ceil(file.size / MiB) * MiB;
  }

  /** Writes the header twice (non-current slot first), so both slots end up current (MS-VHDX §2.2.2.1). */
  private async updateHeader(change: Partial<VhdxHeader>): Promise<void> {
    const { file, headers } = this.parsed;
    let cur = { ...headers.current, ...change };
    for (let i = 0; i < 2; i++) {
      const slot = (1 - cur.slot) as 0 | 1;
      cur = { ...cur, slot, sequenceNumber: cur.sequenceNumber + 1n };
      await file.write(encodeHeader(cur), HEADER_OFFSETS[slot]);
      await file.sync();
    }
    headers.current = cur;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (!this.headerUpdated) {
      // a new FileWriteGuid and DataWriteGuid before the first change of the session
      await this.updateHeader({ fileWriteGuid: newGuid(), dataWriteGuid: newGuid() });
      this.headerUpdated = true;
    }
    const { bat, geometry: g, file } = this.parsed;
    for (const { block: b, inBlock, piece } of splitByBlock(g, offset, data)) {
      const e = await bat.payload(b);
      if (e.state === PayloadState.FULLY_PRESENT) {
        await file.write(piece, e.fileOffset + inBlock);
      } else if (this.reader.parent && (e.state === PayloadState.NOT_PRESENT || e.state === PayloadState.PARTIALLY_PRESENT)) {
        await this.writePartial(b, inBlock, piece, e.state === PayloadState.PARTIALLY_PRESENT ? e.fileOffset : 0);
      } else {
        // a block that reads as zeros: a fresh (sparse, zero) block holding this data
        const off = await this.allocate(g.blockSize);
        await file.write(piece, off + inBlock);
        await bat.setEntry(payloadIndex(g, b), PayloadState.FULLY_PRESENT, off);
      }
    }
  }

  private async allocate(length: number): Promise<number> {
    const off = this.next;
    this.next += length;
    await this.parsed.file.truncate(this.next);
    return off;
  }

  private async writePartial(b: number, inBlock: number, piece: Uint8Array, blockOffset: number): Promise<void> {
    const { bat, geometry: g, file } = this.parsed;
    const lss = g.logicalSectorSize;
    const first = Math.floor(inBlock / lss);
    const end = Math.ceil((inBlock + piece.length) / lss);
    // complete partial edge sectors with what the disk reads there now
    const full = Buffer.allocUnsafe((end - first) * lss);
    const blockStart = b * g.blockSize;
    if (inBlock % lss) await this.reader.readInto(full.subarray(0, lss), blockStart + first * lss);
    if ((inBlock + piece.length) % lss) await this.reader.readInto(full.subarray(full.length - lss), blockStart + (end - 1) * lss);
    full.set(piece, inBlock - first * lss);
    const chunk = Math.floor(b / g.chunkRatio);
    let sb = await bat.sectorBitmap(chunk);
    if (sb.state !== SbState.PRESENT) {
      const off = await this.allocate(SECTOR_BITMAP_BLOCK_SIZE);
      await bat.setEntry(sectorBitmapIndex(g, chunk), SbState.PRESENT, off);
      sb = { state: SbState.PRESENT, fileOffset: off };
    }
    const target = blockOffset || (await this.allocate(g.blockSize));
    await file.write(full, target + first * lss);
    const bitsAt = sb.fileOffset + (b % g.chunkRatio) * g.bitmapBytesPerBlock + Math.floor(first / 8);
    const bits = await file.read(bitsAt, Math.ceil(end / 8) - Math.floor(first / 8), 'sector_bitmap');
    for (let s = first; s < end; s++) bits[(s >> 3) - (first >> 3)] |= 1 << (s & 7);
    await file.write(bits, bitsAt);
    if (!blockOffset) await bat.setEntry(payloadIndex(g, b), PayloadState.PARTIALLY_PRESENT, target);
  }
}
