import { HvsnapError } from '../core/errors.js';
import type { ByteRange } from '../core/types.js';
import { PayloadState, SbState } from './constants.js';
import { vhdxInvalid } from './errors.js';
import { payloadIndex } from './geometry.js';
import type { ParsedVhdx } from './parse-vhdx.js';

/**
 * Reads the virtual disk of one parsed VHDX, falling through to its parent (if any) for NOT_PRESENT
 * blocks and for PARTIALLY_PRESENT sectors whose bitmap bit is 0. Contiguous file extents are read with
 * one pread each, so large sequential reads cost few syscalls.
 */
export class VhdxReader {
  constructor(
    readonly parsed: ParsedVhdx,
    readonly parent: VhdxReader | undefined,
  ) {}

  get virtualSize(): number {
    return this.parsed.metadata.virtualSize;
  }

  /**
   * Fills `buf` with the virtual bytes at `[offset, offset + buf.length)`. `readaheadEnd` (virtual
   * offset, bytes): read-ahead of the file never reads past it; default the end of each block.
   */
  async readInto(buf: Uint8Array, offset: number, readaheadEnd = Infinity): Promise<void> {
    const { file, bat, geometry: g } = this.parsed;
    const bs = g.blockSize;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + buf.length > g.virtualSize) {
      throw new HvsnapError('input_invalid', `${file.path}: read of ${buf.length} bytes at ${offset} is outside the virtual disk of ${g.virtualSize} bytes`, {
        context: { file: file.path, offset, structure: 'payload' },
      });
    }
    // one pending file extent, extended while blocks are contiguous in the file; pEnd: where its last block ends
    let pFile = -1;
    let pAt = 0;
    let pLen = 0;
    let pEnd = 0;
    const flush = async () => {
      if (pLen) await file.readInto(buf, pAt, pLen, pFile, 'payload', pEnd);
      pLen = 0;
    };
    // where read-ahead in block `blockStart` stops, from the block's start: its end, or the caller's limit (never before `readEnd`)
    const extentEnd = (readEnd: number, blockStart: number) => Math.max(readEnd, Math.min(bs, readaheadEnd - blockStart));
    let at = 0;
    while (at < buf.length) {
      const pos = offset + at;
      const b = Math.floor(pos / bs);
      const inBlock = pos - b * bs;
      const n = Math.min(bs - inBlock, buf.length - at);
      const e = bat.cachedPayload(b) ?? (await bat.payload(b));
      switch (e.state) {
        case PayloadState.FULLY_PRESENT: {
          const src = e.fileOffset + inBlock;
          if (pLen && pFile + pLen === src) pLen += n;
          else {
            await flush();
            pFile = src;
            pAt = at;
            pLen = n;
          }
          pEnd = e.fileOffset + extentEnd(inBlock + n, b * bs);
          break;
        }
        case PayloadState.PARTIALLY_PRESENT:
          await flush();
          await this.readPartial(buf, at, n, b, inBlock, e.fileOffset, readaheadEnd);
          break;
        case PayloadState.NOT_PRESENT:
          await flush();
          if (this.parent) await this.parent.readInto(buf.subarray(at, at + n), pos, readaheadEnd);
          else buf.fill(0, at, at + n);
          break;
        case PayloadState.UNDEFINED:
        case PayloadState.ZERO:
        case PayloadState.UNMAPPED:
        case PayloadState.UNMAPPED_V095:
          await flush();
          buf.fill(0, at, at + n);
          break;
        default:
          throw vhdxInvalid(
            { file: file.path, structure: 'bat', offset: bat.region.fileOffset + payloadIndex(g, b) * 8 },
            `block ${b} has reserved state ${e.state}`,
          );
      }
      at += n;
    }
    await flush();
  }

  /** The sector-bitmap bytes covering sectors [first, end) of block `b` (bit 0 of byte 0 = sector `first & ~7`). */
  async bitmap(b: number, firstSector: number, endSector: number): Promise<Buffer> {
    const { file, bat, geometry: g } = this.parsed;
    const chunk = Math.floor(b / g.chunkRatio);
    const sb = await bat.sectorBitmap(chunk);
    const sbAt = bat.region.fileOffset + (chunk * (g.chunkRatio + 1) + g.chunkRatio) * 8;
    if (sb.state !== SbState.PRESENT)
      throw vhdxInvalid(
        { file: file.path, structure: 'sector_bitmap', offset: sbAt },
        `block ${b} is PARTIALLY_PRESENT but the sector bitmap of chunk ${chunk} is not present (state ${sb.state})`,
      );
    const base = sb.fileOffset + (b % g.chunkRatio) * g.bitmapBytesPerBlock;
    const from = Math.floor(firstSector / 8);
    const to = Math.ceil(endSector / 8);
    return file.read(base + from, to - from, 'sector_bitmap');
  }

  private async readPartial(buf: Uint8Array, at: number, n: number, b: number, inBlock: number, fileOffset: number, readaheadEnd: number): Promise<void> {
    const { file, geometry: g } = this.parsed;
    if (!this.parent)
      throw vhdxInvalid(
        { file: file.path, structure: 'bat', offset: this.parsed.bat.region.fileOffset + payloadIndex(g, b) * 8 },
        `block ${b} is PARTIALLY_PRESENT in a disk without a parent`,
      );
    const lss = g.logicalSectorSize;
    const first = Math.floor(inBlock / lss);
    const end = Math.ceil((inBlock + n) / lss);
    const bits = await this.bitmap(b, first, end);
    const bitAt = (s: number) => (bits[(s >> 3) - (first >> 3)] >> (s & 7)) & 1;
    let s = first;
    while (s < end) {
      const v = bitAt(s);
      let t = s + 1;
      while (t < end && bitAt(t) === v) t++;
      const lo = Math.max(inBlock, s * lss);
      const hi = Math.min(inBlock + n, t * lss);
      const dst = at + (lo - inBlock);
      if (v)
        await file.readInto(buf, dst, hi - lo, fileOffset + lo, 'payload', fileOffset + Math.max(hi, Math.min(g.blockSize, readaheadEnd - b * g.blockSize)));
      else await this.parent.readInto(buf.subarray(dst, dst + (hi - lo)), b * g.blockSize + lo, readaheadEnd);
      s = t;
    }
  }

  /** Sorted, merged virtual ranges that may hold non-zero data (through the chain). */
  async allocatedRanges(): Promise<ByteRange[]> {
    const { bat, geometry: g } = this.parsed;
    const parentRanges = this.parent ? await this.parent.allocatedRanges() : [];
    const out: ByteRange[] = [];
    const push = (offset: number, end: number) => {
      const last = out[out.length - 1];
      if (last && last.offset + last.length >= offset) last.length = Math.max(last.length, end - last.offset);
      else out.push({ offset, length: end - offset });
    };
    let pi = 0;
    await bat.forEachPayload((b, state) => {
      const start = b * g.blockSize;
      const end = Math.min(start + g.blockSize, g.virtualSize);
      if (state === PayloadState.FULLY_PRESENT || state === PayloadState.PARTIALLY_PRESENT) push(start, end);
      else if (state === PayloadState.NOT_PRESENT && this.parent) {
        while (pi < parentRanges.length && parentRanges[pi].offset + parentRanges[pi].length <= start) pi++;
        for (let k = pi; k < parentRanges.length && parentRanges[k].offset < end; k++) {
          const r = parentRanges[k];
          push(Math.max(r.offset, start), Math.min(r.offset + r.length, end));
        }
      }
    });
    return out;
  }

  /**
   * The ranges this file itself defines over its parent, ascending: data (FULLY_PRESENT blocks, and the
   * runs of set bits of PARTIALLY_PRESENT blocks) and zero (ZERO, UNMAPPED, UNDEFINED blocks).
   */
  async *ownRanges(): AsyncGenerator<{ offset: number; length: number; zero: boolean }> {
    const { bat, geometry: g } = this.parsed;
    const defined: Array<[number, number]> = [];
    await bat.forEachPayload((b, state) => {
      if (state !== PayloadState.NOT_PRESENT) defined.push([b, state]);
    });
    for (const [b, state] of defined) {
      const start = b * g.blockSize;
      const end = Math.min(start + g.blockSize, g.virtualSize);
      if (state === PayloadState.FULLY_PRESENT) yield { offset: start, length: end - start, zero: false };
      else if (state === PayloadState.PARTIALLY_PRESENT) {
        const sectors = (end - start) / g.logicalSectorSize;
        const bits = await this.bitmap(b, 0, sectors);
        let s = 0;
        while (s < sectors) {
          const v = (bits[s >> 3] >> (s & 7)) & 1;
          let t = s + 1;
          while (t < sectors && ((bits[t >> 3] >> (t & 7)) & 1) === v) t++;
          if (v) yield { offset: start + s * g.logicalSectorSize, length: (t - s) * g.logicalSectorSize, zero: false };
          s = t;
        }
      } else yield { offset: start, length: end - start, zero: true };
    }
  }

  async close(): Promise<void> {
    await this.parsed.file.close();
    await this.parent?.close();
  }
}
