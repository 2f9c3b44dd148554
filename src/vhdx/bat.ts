import { HEADER_SECTION_SIZE, MiB, PAYLOAD_STATE_NAMES, PayloadState, SbState } from './constants.js';
import { vhdxInvalid } from './errors.js';
import { payloadIndex, sectorBitmapIndex, type Geometry } from './geometry.js';
import type { Region } from './region-table.js';
import type { VhdxFile } from './vhdx-file.js';

/** One decoded BAT entry. */
export interface BatEntry {
  /** bits 0-2 */
  state: number;
  /** byte offset in the file (FileOffsetMB << 20); 0 when none */
  fileOffset: number;
}

const PAGE_ENTRIES = 8192; // 64 KiB pages
const MAX_PAGES = 128; // at most 8 MiB of BAT in memory

/** A problem found while scanning the BAT (check reports these; open fails on the first). */
export interface BatFinding {
  index: number;
  /** file offset of the entry */
  offset: number;
  message: string;
  /** errors make the file unreadable; warnings are reported by check only */
  severity: 'error' | 'warning';
}

/**
 * The block allocation table, paged in 64 KiB pages with a small LRU so that memory stays bounded
 * whatever the disk size.
 */
export class Bat {
  private pages = new Map<number, Buffer>();

  constructor(
    private readonly file: VhdxFile,
    readonly region: Region,
    readonly geometry: Geometry,
    readonly hasParent: boolean,
  ) {
    if (geometry.neededEntries * 8 > region.length) {
      throw vhdxInvalid(
        { file: file.path, structure: 'bat', offset: region.fileOffset },
        `BAT region of ${region.length} bytes is too small for ${geometry.neededEntries} entries`,
      );
    }
  }

  private async page(p: number): Promise<Buffer> {
    let buf = this.pages.get(p);
    if (buf) {
      this.pages.delete(p);
      this.pages.set(p, buf);
      return buf;
    }
    const start = p * PAGE_ENTRIES;
    const count = Math.min(PAGE_ENTRIES, this.geometry.neededEntries - start);
    buf = await this.file.read(this.region.fileOffset + start * 8, count * 8, 'bat');
    this.pages.set(p, buf);
    if (this.pages.size > MAX_PAGES) this.pages.delete(this.pages.keys().next().value!);
    return buf;
  }

  /** The raw entry at BAT index `i`. */
  async entry(i: number): Promise<BatEntry> {
    return decodeEntry(await this.page(Math.floor(i / PAGE_ENTRIES)), i);
  }

  payload(b: number): Promise<BatEntry> {
    return this.entry(payloadIndex(this.geometry, b));
  }

  /**
   * The entry of payload block `b` if its BAT page is in memory, else undefined: lets a sequential
   * reader skip an await per read (thousands per GiB at 128 KiB reads).
   */
  cachedPayload(b: number): BatEntry | undefined {
    const i = payloadIndex(this.geometry, b);
    const p = Math.floor(i / PAGE_ENTRIES);
    const buf = this.pages.get(p);
    return buf && decodeEntry(buf, i);
  }

  sectorBitmap(chunk: number): Promise<BatEntry> {
    return this.entry(sectorBitmapIndex(this.geometry, chunk));
  }

  /**
   * Calls `fn` for every payload block in order, one await per 64 KiB page of the BAT (a per-entry
   * await would make a 16-million-block disk take half a minute).
   */
  async forEachPayload(fn: (block: number, state: number, fileOffset: number) => void): Promise<void> {
    const g = this.geometry;
    const pages = Math.ceil(g.neededEntries / PAGE_ENTRIES);
    for (let p = 0; p < pages; p++) {
      const buf = await this.page(p);
      for (let k = 0; k * 8 < buf.length; k++) {
        const i = p * PAGE_ENTRIES + k;
        if ((i + 1) % (g.chunkRatio + 1) === 0) continue;
        const b = i - Math.floor(i / (g.chunkRatio + 1));
        if (b >= g.payloadBlocks) return;
        const lo = buf.readUInt32LE(k * 8);
        fn(b, lo & 7, (buf.readUInt32LE(k * 8 + 4) * 4096 + (lo >>> 20)) * MiB);
      }
    }
  }

  /** Writes entry `i` to the file and the cache (writable files only). */
  async setEntry(i: number, state: number, fileOffset: number): Promise<void> {
    const raw = Buffer.alloc(8);
    encodeBatEntry(raw, 0, state, fileOffset);
    await this.file.write(raw, this.region.fileOffset + i * 8);
    const p = this.pages.get(Math.floor(i / PAGE_ENTRIES));
    if (p) raw.copy(p, (i % PAGE_ENTRIES) * 8);
  }

  /**
   * Checks every entry: known states for the disk type, zero reserved bits, blocks 1 MiB-aligned inside
   * the file, outside the header section and the regions, and no two blocks sharing file space.
   * `forbidden` are the file spans of the log and the regions. Stops after `limit` findings.
   */
  async scan(forbidden: Array<{ name: string; start: number; end: number }>, limit = Infinity, errorsOnly = false): Promise<BatFinding[]> {
    const g = this.geometry;
    const findings: BatFinding[] = [];
    const used = new Uint8Array(Math.ceil(this.file.size / MiB / 8) + 1);
    const claim = (start: number, len: number): boolean => {
      for (let u = start / MiB; u < (start + len) / MiB; u++) {
        if (used[u >> 3] & (1 << (u & 7))) return false;
        used[u >> 3] |= 1 << (u & 7);
      }
      return true;
    };
    const pages = Math.ceil(g.neededEntries / PAGE_ENTRIES);
    for (let p = 0; p < pages && findings.length < limit; p++) {
      // one await per page, then a tight loop: opening a disk with millions of blocks stays fast
      const buf = await this.page(p);
      const first = p * PAGE_ENTRIES;
      for (let k = 0; k * 8 < buf.length && findings.length < limit; k++) {
        const i = first + k;
        const lo = buf.readUInt32LE(k * 8);
        const state = lo & 7;
        const fileOffset = (buf.readUInt32LE(k * 8 + 4) * 4096 + (lo >>> 20)) * MiB;
        const add = (message: string, severity: 'error' | 'warning' = 'error') => {
          if (severity === 'error' || !errorsOnly) findings.push({ index: i, offset: this.region.fileOffset + i * 8, message, severity });
        };
        if ((lo & 0xffff8) !== 0) add(`BAT entry ${i}: reserved bits set (0x${(lo & 0xffff8).toString(16)})`, 'warning');
        const isSb = (i + 1) % (g.chunkRatio + 1) === 0;
        let len = 0;
        if (isSb) {
          if (state === SbState.PRESENT) {
            // only a differencing disk uses its sector bitmaps; elsewhere the entry is ignored
            if (this.hasParent) len = MiB;
            else add(`BAT entry ${i}: sector bitmap block present in a disk without a parent (ignored)`, 'warning');
          } else if (state !== SbState.NOT_PRESENT) add(`BAT entry ${i}: invalid sector bitmap state ${state}`, this.hasParent ? 'error' : 'warning');
        } else {
          const b = i - Math.floor(i / (g.chunkRatio + 1));
          if (b >= g.payloadBlocks) continue;
          if (state === 4) add(`BAT entry ${i} (block ${b}): reserved payload state 4`);
          if (state === PayloadState.PARTIALLY_PRESENT && !this.hasParent) add(`BAT entry ${i} (block ${b}): PARTIALLY_PRESENT in a disk without a parent`);
          if (state === PayloadState.FULLY_PRESENT || state === PayloadState.PARTIALLY_PRESENT) len = g.blockSize;
        }
        if (len === 0) continue;
        const what = `BAT entry ${i} (${isSb ? 'sector bitmap' : PAYLOAD_STATE_NAMES[state]})`;
        if (fileOffset < HEADER_SECTION_SIZE) add(`${what}: file offset ${fileOffset} points into the header section`);
        else if (fileOffset + len > this.file.size) add(`${what}: block at ${fileOffset}+${len} lies past the end of the file (${this.file.size} bytes)`);
        else {
          const hit = forbidden.find((f) => fileOffset < f.end && f.start < fileOffset + len);
          if (hit) add(`${what}: block at ${fileOffset}+${len} overlaps the ${hit.name}`);
          else if (!claim(fileOffset, len)) add(`${what}: block at ${fileOffset}+${len} overlaps another block`);
        }
      }
    }
    return findings;
  }

  /** Throws the first scan finding as `vhdx_invalid` (structure `bat`). */
  async validate(forbidden: Array<{ name: string; start: number; end: number }>): Promise<void> {
    const [f] = await this.scan(forbidden, 1, true);
    if (f) throw vhdxInvalid({ file: this.file.path, structure: 'bat', offset: f.offset }, f.message);
  }
}

function decodeEntry(page: Buffer, i: number): BatEntry {
  const at = (i % PAGE_ENTRIES) * 8;
  const lo = page.readUInt32LE(at);
  const hi = page.readUInt32LE(at + 4);
  return { state: lo & 7, fileOffset: (hi * 4096 + (lo >>> 20)) * MiB };
}

/** Stores a BAT entry (state, file byte offset, 1 MiB-aligned) at `at` in `buf`. */
export function encodeBatEntry(buf: Buffer, at: number, state: number, fileOffset: number): void {
  const mb = fileOffset / MiB;
  buf.writeUInt32LE((((mb % 4096) << 20) | state) >>> 0, at);
  buf.writeUInt32LE(Math.floor(mb / 4096), at + 4);
}
