import { LOG_SECTOR, MiB } from './constants.js';
import { structureCrc } from './crc32c.js';
import { vhdxInvalid, vhdxUnsupported } from './errors.js';
import { readGuid } from './guid.js';
import type { VhdxHeader } from './headers.js';
import type { VhdxFile } from './vhdx-file.js';

/** What log replay found. */
export interface LogReplay {
  /** clean: LogGuid is zero; replayed: an active sequence was applied in memory; empty: LogGuid set but no valid sequence */
  state: 'clean' | 'replayed' | 'empty';
  /** entries in the active sequence */
  entries: number;
  /** 4 KiB sectors the replay changes */
  sectors: number;
  headSequence?: string;
  /** log-relative offset of the sequence's first entry */
  tailOffset?: number;
}

/** The largest log read into memory (the log is normally 1 MiB). */
const MAX_LOG = 64 * MiB;
/** The most sectors a replay may change (zero descriptors included): 1 GiB worth. */
const MAX_SECTORS = 262144;
const ZERO_SECTOR = Buffer.alloc(LOG_SECTOR);

interface Descriptor {
  kind: 'zero' | 'data';
  fileOffset: number;
  zeroLength: number;
  leading?: Buffer;
  trailing?: Buffer;
}

interface Entry {
  pos: number;
  length: number;
  tail: number;
  seq: bigint;
  flushedFileOffset: number;
  lastFileOffset: number;
  descriptors: Descriptor[];
  /** data sectors, one per data descriptor, as the real 4 KiB to write */
  data: Buffer[];
}

/**
 * Finds the active log sequence (MS-VHDX §2.3.3) and applies it to an in-memory overlay of the file:
 * the file is never written. Afterwards every read of `file` sees the replayed metadata.
 */
export async function replayLog(file: VhdxFile, header: VhdxHeader): Promise<LogReplay> {
  const where = (offset: number) => ({ file: file.path, structure: 'log' as const, offset });
  if (header.logLength > MAX_LOG) throw vhdxUnsupported(where(header.logOffset), `log of ${header.logLength} bytes is larger than ${MAX_LOG}`);
  const log = await file.read(header.logOffset, header.logLength, 'log');
  const entries = findActiveSequence(log, header);
  if (!entries) return { state: 'empty', entries: 0, sectors: 0 };
  const head = entries[entries.length - 1];
  if (head.flushedFileOffset > file.physicalSize) {
    throw vhdxInvalid(
      where(header.logOffset + head.pos + 48),
      `file is ${file.physicalSize} bytes but the log says ${head.flushedFileOffset} were flushed: the file is truncated`,
    );
  }
  const sectors = new Map<number, Buffer>();
  let size = Math.max(file.physicalSize, head.lastFileOffset);
  for (const e of entries) {
    let d = 0;
    for (const desc of e.descriptors) {
      if (desc.kind === 'zero') {
        // bounded before anything is allocated: a hostile ZeroLength (2^40, 2^63) is refused at once
        if (!Number.isSafeInteger(desc.fileOffset + desc.zeroLength) || sectors.size + desc.zeroLength / LOG_SECTOR > MAX_SECTORS) {
          throw vhdxUnsupported(
            where(header.logOffset + e.pos),
            `a zero descriptor of ${desc.zeroLength} bytes at file offset ${desc.fileOffset} would make log replay change more than ${MAX_SECTORS} sectors`,
          );
        }
        for (let off = desc.fileOffset; off < desc.fileOffset + desc.zeroLength; off += LOG_SECTOR) sectors.set(off / LOG_SECTOR, ZERO_SECTOR);
        size = Math.max(size, desc.fileOffset + desc.zeroLength);
      } else {
        sectors.set(desc.fileOffset / LOG_SECTOR, e.data[d++]);
        size = Math.max(size, desc.fileOffset + LOG_SECTOR);
      }
      if (sectors.size > MAX_SECTORS) throw vhdxUnsupported(where(header.logOffset + e.pos), `log replay would change more than ${MAX_SECTORS} sectors`);
    }
  }
  file.setOverlay(sectors, size);
  return { state: 'replayed', entries: entries.length, sectors: sectors.size, headSequence: head.seq.toString(), tailOffset: entries[0].pos };
}

/** Reads `len` bytes of the circular log starting at `pos`. */
function ring(log: Buffer, pos: number, len: number): Buffer {
  if (pos + len <= log.length) return log.subarray(pos, pos + len);
  return Buffer.concat([log.subarray(pos), log.subarray(0, len - (log.length - pos))]);
}

/** Parses and fully validates the entry at `pos`; undefined when it is not a valid entry of this log. */
function parseEntry(log: Buffer, pos: number, logGuid: string): Entry | undefined {
  const hdr = ring(log, pos, 64);
  if (hdr.toString('latin1', 0, 4) !== 'loge') return undefined;
  const length = hdr.readUInt32LE(8);
  const tail = hdr.readUInt32LE(12);
  const seq = hdr.readBigUInt64LE(16);
  const count = hdr.readUInt32LE(24);
  if (length === 0 || length % LOG_SECTOR || length > log.length || tail % LOG_SECTOR || tail >= log.length || seq === 0n) return undefined;
  if (readGuid(hdr, 32) !== logGuid) return undefined;
  const flushedFileOffset = Number(hdr.readBigUInt64LE(48));
  const lastFileOffset = Number(hdr.readBigUInt64LE(56));
  if (flushedFileOffset % MiB || lastFileOffset % MiB) return undefined;
  const descSectors = count <= 126 ? 1 : 1 + Math.ceil((count - 126) / 128);
  if (descSectors * LOG_SECTOR > length) return undefined;
  const whole = ring(log, pos, length);
  if (whole.readUInt32LE(4) !== structureCrc(whole, 4)) return undefined;
  const descriptors: Descriptor[] = [];
  for (let i = 0; i < count; i++) {
    const at = i < 126 ? 64 + 32 * i : LOG_SECTOR * (1 + Math.floor((i - 126) / 128)) + 32 * ((i - 126) % 128);
    const sig = whole.toString('latin1', at, at + 4);
    const fileOffset = Number(whole.readBigUInt64LE(at + 16));
    if (whole.readBigUInt64LE(at + 24) !== seq || fileOffset % LOG_SECTOR) return undefined;
    if (sig === 'zero') {
      const zeroLength = Number(whole.readBigUInt64LE(at + 8));
      if (zeroLength % LOG_SECTOR) return undefined;
      descriptors.push({ kind: 'zero', fileOffset, zeroLength });
    } else if (sig === 'desc') {
      descriptors.push({ kind: 'data', fileOffset, zeroLength: 0, trailing: whole.subarray(at + 4, at + 8), leading: whole.subarray(at + 8, at + 16) });
    } else return undefined;
  }
  const dataCount = descriptors.filter((d) => d.kind === 'data').length;
  if ((descSectors + dataCount) * LOG_SECTOR > length) return undefined;
  const data: Buffer[] = [];
  let k = descSectors;
  for (const d of descriptors) {
    if (d.kind !== 'data') continue;
    const s = whole.subarray(k * LOG_SECTOR, (k + 1) * LOG_SECTOR);
    k++;
    if (s.toString('latin1', 0, 4) !== 'data') return undefined;
    const high = BigInt(s.readUInt32LE(4));
    const low = BigInt(s.readUInt32LE(4092));
    if (((high << 32n) | low) !== seq) return undefined;
    const real = Buffer.alloc(LOG_SECTOR);
    d.leading!.copy(real, 0);
    s.copy(real, 8, 8, 4092);
    d.trailing!.copy(real, 4092);
    data.push(real);
  }
  return { pos, length, tail, seq, flushedFileOffset, lastFileOffset, descriptors, data };
}

/**
 * Scans the ring in 4 KiB steps; from each position extends a run of valid entries with consecutive
 * sequence numbers; a run counts when its head's Tail is the position of one of its entries; keeps the
 * run whose head has the highest sequence number, cut to start at the tail.
 */
function findActiveSequence(log: Buffer, header: VhdxHeader): Entry[] | undefined {
  let best: Entry[] | undefined;
  const cache = new Map<number, Entry | null>();
  const at = (pos: number): Entry | undefined => {
    if (!cache.has(pos)) cache.set(pos, parseEntry(log, pos, header.logGuid) ?? null);
    return cache.get(pos) ?? undefined;
  };
  for (let start = 0; start < log.length; start += LOG_SECTOR) {
    const first = at(start);
    if (!first) continue;
    const run = [first];
    let used = first.length;
    for (;;) {
      const last = run[run.length - 1];
      const next = at((last.pos + last.length) % log.length);
      if (!next || next.seq !== last.seq + 1n || used + next.length > log.length) break;
      run.push(next);
      used += next.length;
    }
    const head = run[run.length - 1];
    const t = run.findIndex((e) => e.pos === head.tail);
    if (t >= 0 && (!best || head.seq > best[best.length - 1].seq)) best = run.slice(t);
  }
  return best;
}
