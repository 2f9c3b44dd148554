/**
 * Test kit for other rooms' tests (and ours): builders of VHDX files in states that are hard to get
 * otherwise: a pending log (as a crash-consistent snapshot of a running VM has) and differencing chains
 * (a VM with checkpoints). Everything here writes real files, checked against qemu and 7-Zip in
 * test/vhdx. Sizes in bytes.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { HEADER_OFFSETS, LOG_SECTOR, MiB, PayloadState } from '../../src/vhdx/constants.js';
import { sealStructure } from '../../src/vhdx/crc32c.js';
import { createDifferencingVhdx } from '../../src/vhdx/create-differencing-vhdx.js';
import { createVhdx } from '../../src/vhdx/create-vhdx.js';
import { newGuid, writeGuid } from '../../src/vhdx/guid.js';
import { encodeHeader, readHeaders } from '../../src/vhdx/headers.js';
import { payloadIndex } from '../../src/vhdx/geometry.js';
import { randomBlock, seededRandom } from '../../src/core/random.js';
import { openVhdx } from '../../src/vhdx/open-vhdx.js';
import { parseVhdx } from '../../src/vhdx/parse-vhdx.js';
import { newReadStats, VhdxFile } from '../../src/vhdx/vhdx-file.js';
import { encodeBatEntry } from '../../src/vhdx/bat.js';

/** A seeded PRNG (mulberry32): the same seed builds the same files. */
export { seededRandom };

/** `n` bytes from the PRNG. */
const fill = (rand: () => number, n: number): Buffer => randomBlock(rand, n);

/** One log descriptor for {@link encodeLogEntry}: 4 KiB of data, or a zeroed range (4 KiB multiples). */
export type LogDescriptorSpec = { kind: 'data'; fileOffset: number; sector: Buffer } | { kind: 'zero'; fileOffset: number; length: number };

/** Encodes one log entry (MS-VHDX §2.3.1) with a valid CRC-32C. */
export function encodeLogEntry(e: {
  seq: bigint;
  tail: number;
  logGuid: string;
  flushedFileOffset: number;
  lastFileOffset: number;
  descriptors: LogDescriptorSpec[];
}): Buffer {
  const n = e.descriptors.length;
  const descSectors = n <= 126 ? 1 : 1 + Math.ceil((n - 126) / 128);
  const data = e.descriptors.filter((d): d is Extract<LogDescriptorSpec, { kind: 'data' }> => d.kind === 'data');
  const buf = Buffer.alloc((descSectors + data.length) * LOG_SECTOR);
  buf.write('loge', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 8);
  buf.writeUInt32LE(e.tail, 12);
  buf.writeBigUInt64LE(e.seq, 16);
  buf.writeUInt32LE(n, 24);
  writeGuid(e.logGuid, buf, 32);
  buf.writeBigUInt64LE(BigInt(e.flushedFileOffset), 48);
  buf.writeBigUInt64LE(BigInt(e.lastFileOffset), 56);
  let k = descSectors;
  e.descriptors.forEach((d, i) => {
    const at = i < 126 ? 64 + 32 * i : LOG_SECTOR * (1 + Math.floor((i - 126) / 128)) + 32 * ((i - 126) % 128);
    buf.writeBigUInt64LE(BigInt(d.fileOffset), at + 16);
    buf.writeBigUInt64LE(e.seq, at + 24);
    if (d.kind === 'zero') {
      buf.write('zero', at, 'latin1');
      buf.writeBigUInt64LE(BigInt(d.length), at + 8);
    } else {
      buf.write('desc', at, 'latin1');
      d.sector.copy(buf, at + 4, 4092, 4096);
      d.sector.copy(buf, at + 8, 0, 8);
      const s = k++ * LOG_SECTOR;
      buf.write('data', s, 'latin1');
      buf.writeUInt32LE(Number(e.seq >> 32n), s + 4);
      d.sector.copy(buf, s + 8, 8, 4092);
      buf.writeUInt32LE(Number(e.seq & 0xffffffffn), s + 4092);
    }
  });
  sealStructure(buf, 4);
  return buf;
}

/** Sets payload block `block` of a file to `state` (offset 0) directly in its BAT, for crafting test files. */
export async function setPayloadBlockState(path: string, block: number, state: number): Promise<void> {
  const file = await VhdxFile.open(path, true, newReadStats());
  try {
    const p = await parseVhdx(file, { validateBat: false });
    await p.bat.setEntry(payloadIndex(p.geometry, block), state, 0);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** A file with a pending log and what it must read as. */
export interface PendingLogFile {
  path: string;
  /** the virtual disk after the log is replayed (what a correct reader returns) */
  expected: Buffer;
  /** the virtual disk if the log is ignored (what libvhdi and 7-Zip return) */
  stale: Buffer;
  logGuid: string;
}

/**
 * Builds a 16 MiB dynamic VHDX (1 MiB blocks) with a pending log, as a crash between a log write and its
 * application leaves it. The log ring holds: an older sequence of this log (seq 50-51, must be ignored);
 * the active sequence (seq 200: a BAT sector that makes block 1 ZERO and maps block 5; seq 201: a zero
 * descriptor over 8 KiB of block 5, and a BAT sector that maps block 6); a torn entry (seq 202, bad CRC:
 * ignored); and an entry of another log (other LogGuid, seq 900: ignored). Blocks 0-3 hold data before.
 */
export async function buildVhdxWithPendingLog(path: string, opts: { seed?: number } = {}): Promise<PendingLogFile> {
  const rand = seededRandom(opts.seed ?? 1);
  const size = 16 * MiB;
  await createVhdx(path, { virtualSize: size, blockSize: MiB });
  const stale = Buffer.alloc(size);
  const img = await openVhdx(path, { writable: true });
  for (let b = 0; b < 4; b++) {
    const d = fill(rand, MiB);
    await img.write(b * MiB, d);
    d.copy(stale, b * MiB);
  }
  await img.close();

  const file = await VhdxFile.open(path, true, newReadStats());
  try {
    const p = await parseVhdx(file);
    const g = p.geometry;
    const h = p.headers.current;
    const x = Math.ceil(file.physicalSize / MiB) * MiB;
    const y = x + MiB;
    const block5 = fill(rand, MiB);
    const block6 = fill(rand, MiB);
    await file.write(block5, x);
    await file.write(block6, y);
    const end = y + MiB;
    await file.truncate(end);
    const batSector = await file.read(p.regions.bat.fileOffset, LOG_SECTOR, 'bat');
    const setEntry = (b: number, state: number, off: number) => encodeBatEntry(batSector, payloadIndex(g, b) * 8, state, off);
    const logGuid = newGuid();
    const base = { logGuid, flushedFileOffset: end, lastFileOffset: end };
    const batAt = p.regions.bat.fileOffset;

    const old = Buffer.from(batSector);
    encodeBatEntry(old, payloadIndex(g, 2) * 8, PayloadState.ZERO, 0);
    const old50 = encodeLogEntry({ ...base, seq: 50n, tail: 0, descriptors: [{ kind: 'data', fileOffset: batAt, sector: old }] });
    const old51 = encodeLogEntry({ ...base, seq: 51n, tail: 0, descriptors: [] });

    setEntry(1, PayloadState.ZERO, 0);
    setEntry(5, PayloadState.FULLY_PRESENT, x);
    const tail = 128 * 1024;
    const e200 = encodeLogEntry({ ...base, seq: 200n, tail, descriptors: [{ kind: 'data', fileOffset: batAt, sector: Buffer.from(batSector) }] });
    setEntry(6, PayloadState.FULLY_PRESENT, y);
    const e201 = encodeLogEntry({
      ...base,
      seq: 201n,
      tail,
      descriptors: [
        { kind: 'zero', fileOffset: x + 64 * 1024, length: 8 * 1024 },
        { kind: 'data', fileOffset: batAt, sector: Buffer.from(batSector) },
      ],
    });
    setEntry(7, PayloadState.FULLY_PRESENT, y);
    const torn = encodeLogEntry({ ...base, seq: 202n, tail, descriptors: [{ kind: 'data', fileOffset: batAt, sector: Buffer.from(batSector) }] });
    torn[torn.length - 100] ^= 0xff;
    const foreign = encodeLogEntry({ ...base, logGuid: newGuid(), seq: 900n, tail: 512 * 1024, descriptors: [{ kind: 'zero', fileOffset: x, length: MiB }] });

    const log = h.logOffset;
    await file.write(old50, log);
    await file.write(old51, log + old50.length);
    await file.write(e200, log + tail);
    await file.write(e201, log + tail + e200.length);
    await file.write(torn, log + tail + e200.length + e201.length);
    await file.write(foreign, log + 512 * 1024);
    // the header that names the log goes into the other slot with a higher sequence number
    const slot = (1 - h.slot) as 0 | 1;
    await file.write(encodeHeader({ ...h, sequenceNumber: h.sequenceNumber + 1n, logGuid }), HEADER_OFFSETS[slot]);
    await file.sync();

    const expected = Buffer.from(stale);
    expected.fill(0, MiB, 2 * MiB);
    block5.copy(expected, 5 * MiB);
    expected.fill(0, 5 * MiB + 64 * 1024, 5 * MiB + 72 * 1024);
    block6.copy(expected, 6 * MiB);
    return { path, expected, stale, logGuid };
  } finally {
    await file.close();
  }
}

/** A differencing chain and the content its top disk must read as. */
export interface DifferencingChain {
  /** the base (dynamic) disk */
  base: string;
  /** the children, oldest first; the last is the top */
  children: string[];
  top: string;
  /** the top's virtual content */
  expected: Buffer;
  /** each disk's own virtual content, base first (what reading that disk alone returns) */
  contents: Buffer[];
}

/**
 * Builds base.vhdx plus `depth` differencing children (child1.avhdx, ...) in `dir`: the base has random
 * data in about half its blocks; each child gets sector-unaligned writes (PARTIALLY_PRESENT blocks with
 * sector bitmaps, reading through to the parent elsewhere); the top child also has one block set to
 * ZERO and one to UNMAPPED over parent data (both read as zeros). Defaults: 16 MiB, 1 MiB blocks, 512-byte
 * sectors, depth 2.
 */
export async function buildDifferencingChain(
  dir: string,
  opts: { virtualSize?: number; blockSize?: number; logicalSectorSize?: 512 | 4096; depth?: number; seed?: number } = {},
): Promise<DifferencingChain> {
  const rand = seededRandom(opts.seed ?? 2);
  const size = opts.virtualSize ?? 16 * MiB;
  const bs = opts.blockSize ?? MiB;
  const depth = opts.depth ?? 2;
  const base = join(dir, 'base.vhdx');
  await createVhdx(base, { virtualSize: size, blockSize: bs, logicalSectorSize: opts.logicalSectorSize ?? 512 });
  const content = Buffer.alloc(size);
  const img = await openVhdx(base, { writable: true });
  for (let b = 0; b * bs < size; b++) {
    if (rand() < 0.5) continue;
    const n = Math.min(bs, size - b * bs);
    const d = fill(rand, n);
    await img.write(b * bs, d);
    d.copy(content, b * bs);
  }
  await img.close();
  const contents = [Buffer.from(content)];
  const children: string[] = [];
  let parent = base;
  for (let level = 1; level <= depth; level++) {
    const child = join(dir, `child${level}.avhdx`);
    await createDifferencingVhdx(child, { parentPath: parent });
    const w = await openVhdx(child, { writable: true });
    for (let i = 0; i < 12; i++) {
      const len = 1 + Math.floor(rand() * 20000);
      const off = Math.floor(rand() * (size - len));
      const d = fill(rand, len);
      await w.write(off, d);
      d.copy(content, off);
    }
    await w.close();
    if (level === depth) {
      const blocks = Math.ceil(size / bs);
      for (const [k, state] of [
        [Math.floor(blocks / 3), PayloadState.ZERO],
        [Math.floor((2 * blocks) / 3), PayloadState.UNMAPPED],
      ] as const) {
        await setPayloadBlockState(child, k, state);
        content.fill(0, k * bs, Math.min(size, (k + 1) * bs));
      }
    }
    contents.push(Buffer.from(content));
    children.push(child);
    parent = child;
  }
  return { base, children, top: parent, expected: content, contents };
}

/**
 * Makes the log of a clean VHDX active with one entry (sequence 7, tail 0) of the descriptors
 * `descriptorsFor(fileSize)` returns, and points the current header at it (a file as a host crash
 * leaves it).
 */
export async function activateLog(path: string, descriptorsFor: (fileSize: number) => LogDescriptorSpec[]): Promise<void> {
  const file = await VhdxFile.open(path, false, newReadStats());
  const { current: h } = await readHeaders(file);
  const size = file.physicalSize;
  await file.close();
  const logGuid = '11111111-2222-4333-8444-555555555555';
  const entry = encodeLogEntry({ seq: 7n, tail: 0, logGuid, flushedFileOffset: size, lastFileOffset: size, descriptors: descriptorsFor(size) });
  const handle = await open(path, 'r+');
  try {
    await handle.write(entry, 0, entry.length, h.logOffset);
    const hdr = encodeHeader({ ...h, sequenceNumber: h.sequenceNumber + 1n, logGuid });
    await handle.write(hdr, 0, hdr.length, h.slot === 0 ? 128 * 1024 : 64 * 1024);
  } finally {
    await handle.close();
  }
}
