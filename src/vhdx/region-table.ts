import { HEADER_SECTION_SIZE, MiB, REGION_BAT, REGION_METADATA, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE } from './constants.js';
import { sealStructure, structureCrc } from './crc32c.js';
import { vhdxInvalid, vhdxUnsupported } from './errors.js';
import { readGuid, writeGuid } from './guid.js';
import type { VhdxFile } from './vhdx-file.js';

/** A region of the file (MS-VHDX §2.2.3). Offsets and lengths in bytes. */
export interface Region {
  guid: string;
  fileOffset: number;
  length: number;
  required: boolean;
}

export interface RegionTable {
  bat: Region;
  metadata: Region;
  entries: Region[];
  /** true when table 1 was unusable and table 2 was used */
  usedBackup: boolean;
}

/** Parses a 64 KiB region table; throws `vhdx_invalid` naming the offset of the bad field. */
export function parseRegionTable(buf: Buffer, file: string, tableOffset: number): Region[] {
  const where = (offset: number) => ({ file, structure: 'region_table' as const, offset });
  if (buf.toString('latin1', 0, 4) !== 'regi') throw vhdxInvalid(where(tableOffset), 'bad signature (expected "regi")');
  const stored = buf.readUInt32LE(4);
  const actual = structureCrc(buf, 4);
  if (stored !== actual) throw vhdxInvalid(where(tableOffset + 4), `bad CRC-32C (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)})`);
  const count = buf.readUInt32LE(8);
  if (count > 2047) throw vhdxInvalid(where(tableOffset + 8), `EntryCount ${count} exceeds 2047`);
  const entries: Region[] = [];
  for (let i = 0; i < count; i++) {
    const at = 16 + 32 * i;
    const r: Region = {
      guid: readGuid(buf, at),
      fileOffset: Number(buf.readBigUInt64LE(at + 16)),
      length: buf.readUInt32LE(at + 24),
      required: (buf.readUInt32LE(at + 28) & 1) === 1,
    };
    if (r.fileOffset % MiB !== 0 || r.fileOffset < HEADER_SECTION_SIZE)
      throw vhdxInvalid(where(tableOffset + at + 16), `region ${r.guid} FileOffset ${r.fileOffset} is not a multiple of 1 MiB at or after 1 MiB`);
    if (r.length % MiB !== 0 || r.length === 0)
      throw vhdxInvalid(where(tableOffset + at + 24), `region ${r.guid} Length ${r.length} is not a positive multiple of 1 MiB`);
    if (entries.some((e) => e.guid === r.guid)) throw vhdxInvalid(where(tableOffset + at), `region ${r.guid} appears twice`);
    const known = r.guid === REGION_BAT || r.guid === REGION_METADATA;
    if (!known && r.required) throw vhdxUnsupported(where(tableOffset + at), `unknown required region ${r.guid}`);
    entries.push(r);
  }
  return entries;
}

/**
 * Reads region table 1 (falling back to table 2 when table 1 is damaged), finds the BAT and metadata
 * regions and checks that no regions overlap each other, the header section or the log.
 */
export async function readRegionTable(file: VhdxFile, log: { offset: number; length: number }): Promise<RegionTable> {
  let entries: Region[] | undefined;
  let usedBackup = false;
  let firstError: unknown;
  for (const off of REGION_TABLE_OFFSETS) {
    try {
      entries = parseRegionTable(await file.read(off, REGION_TABLE_SIZE, 'region_table'), file.path, off);
      break;
    } catch (e) {
      firstError ??= e;
      usedBackup = true;
    }
  }
  if (!entries) throw firstError;
  const find = (guid: string, name: string): Region => {
    const r = entries!.find((e) => e.guid === guid);
    if (!r) throw vhdxInvalid({ file: file.path, structure: 'region_table', offset: REGION_TABLE_OFFSETS[0] }, `no ${name} region`);
    return r;
  };
  const bat = find(REGION_BAT, 'BAT');
  const metadata = find(REGION_METADATA, 'metadata');
  const spans = entries.map((e) => ({ name: `region ${e.guid}`, start: e.fileOffset, end: e.fileOffset + e.length }));
  if (log.length > 0) spans.push({ name: 'log', start: log.offset, end: log.offset + log.length });
  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i].start < spans[i - 1].end) {
      throw vhdxInvalid({ file: file.path, structure: 'region_table', offset: spans[i].start }, `${spans[i].name} overlaps ${spans[i - 1].name}`);
    }
  }
  return { bat, metadata, entries, usedBackup };
}

/** Encodes a region table (both copies are identical) with Required = 1. */
export function encodeRegionTable(regions: Array<Omit<Region, 'required'>>): Buffer {
  const buf = Buffer.alloc(REGION_TABLE_SIZE);
  buf.write('regi', 0, 'latin1');
  buf.writeUInt32LE(regions.length, 8);
  regions.forEach((r, i) => {
    const at = 16 + 32 * i;
    writeGuid(r.guid, buf, at);
    buf.writeBigUInt64LE(BigInt(r.fileOffset), at + 16);
    buf.writeUInt32LE(r.length, at + 24);
    buf.writeUInt32LE(1, at + 28);
  });
  sealStructure(buf, 4);
  return buf;
}
