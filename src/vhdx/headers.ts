import { FILE_SIGNATURE, HEADER_OFFSETS, HEADER_SIZE, MiB } from './constants.js';
import { sealStructure, structureCrc } from './crc32c.js';
import { vhdxInvalid, vhdxUnsupported } from './errors.js';
import { readGuid, writeGuid, ZERO_GUID } from './guid.js';
import type { VhdxFile } from './vhdx-file.js';

/** One VHDX header (MS-VHDX §2.2.2). */
export interface VhdxHeader {
  /** 0 for the header at 64 KiB, 1 for the one at 128 KiB */
  slot: 0 | 1;
  sequenceNumber: bigint;
  fileWriteGuid: string;
  dataWriteGuid: string;
  /** zero GUID when the log is empty */
  logGuid: string;
  logVersion: number;
  version: number;
  /** bytes */
  logLength: number;
  /** bytes from the start of the file */
  logOffset: number;
}

/** What reading both header slots found. */
export interface HeaderPair {
  current: VhdxHeader;
  /** per slot: the header, or why it is not valid */
  slots: Array<VhdxHeader | { problem: string }>;
  creator: string;
}

/** Parses a 4 KiB header; returns a problem string when the signature or CRC is wrong. */
export function parseHeader(buf: Buffer, slot: 0 | 1): VhdxHeader | { problem: string } {
  if (buf.toString('latin1', 0, 4) !== 'head') return { problem: 'bad signature (expected "head")' };
  const stored = buf.readUInt32LE(4);
  const actual = structureCrc(buf, 4);
  if (stored !== actual) return { problem: `bad CRC-32C (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)})` };
  return {
    slot,
    sequenceNumber: buf.readBigUInt64LE(8),
    fileWriteGuid: readGuid(buf, 16),
    dataWriteGuid: readGuid(buf, 32),
    logGuid: readGuid(buf, 48),
    logVersion: buf.readUInt16LE(64),
    version: buf.readUInt16LE(66),
    logLength: buf.readUInt32LE(68),
    logOffset: Number(buf.readBigUInt64LE(72)),
  };
}

/** Encodes a header as its 4 KiB structure with the CRC set. */
export function encodeHeader(h: Omit<VhdxHeader, 'slot'>): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  buf.write('head', 0, 'latin1');
  buf.writeBigUInt64LE(h.sequenceNumber, 8);
  writeGuid(h.fileWriteGuid, buf, 16);
  writeGuid(h.dataWriteGuid, buf, 32);
  writeGuid(h.logGuid, buf, 48);
  buf.writeUInt16LE(h.logVersion, 64);
  buf.writeUInt16LE(h.version, 66);
  buf.writeUInt32LE(h.logLength, 68);
  buf.writeBigUInt64LE(BigInt(h.logOffset), 72);
  sealStructure(buf, 4);
  return buf;
}

/** Encodes the 64 KiB file type identifier with a UTF-16LE creator string. */
export function encodeFileIdentifier(creator: string): Buffer {
  const buf = Buffer.alloc(64 * 1024);
  buf.write(FILE_SIGNATURE, 0, 'latin1');
  buf.write(creator.slice(0, 255), 8, 'utf16le');
  return buf;
}

/**
 * Reads the file identifier and both headers and picks the current one: the only valid one, or the
 * valid one with the higher sequence number (equal numbers only if both are byte-identical, as qemu).
 */
export async function readHeaders(file: VhdxFile): Promise<HeaderPair> {
  const where = (structure: 'file_identifier' | 'header', offset: number) => ({ file: file.path, structure, offset });
  if (file.size < MiB) throw vhdxInvalid(where('file_identifier', 0), `file is ${file.size} bytes, smaller than the 1 MiB header section`);
  const ident = await file.read(0, 520, 'file_identifier');
  if (ident.toString('latin1', 0, 8) !== FILE_SIGNATURE) throw vhdxInvalid(where('file_identifier', 0), 'not a VHDX file (signature "vhdxfile" missing)');
  const creator = ident.toString('utf16le', 8, 520).replace(/\0.*$/s, '');
  const raw = await Promise.all(HEADER_OFFSETS.map((off) => file.read(off, HEADER_SIZE, 'header')));
  const slots = raw.map((b, i) => parseHeader(b, i as 0 | 1));
  const valid = slots.filter((s): s is VhdxHeader => !('problem' in s));
  if (valid.length === 0) {
    const why = slots.map((s, i) => `header ${i + 1}: ${(s as { problem: string }).problem}`).join('; ');
    throw vhdxInvalid(where('header', HEADER_OFFSETS[0]), `no valid header (${why})`);
  }
  let current = valid[0];
  if (valid.length === 2) {
    const [a, b] = valid;
    if (a.sequenceNumber === b.sequenceNumber && !raw[0].equals(raw[1])) {
      throw vhdxInvalid(where('header', HEADER_OFFSETS[1]), `both headers have sequence number ${a.sequenceNumber} but differ`);
    }
    current = b.sequenceNumber > a.sequenceNumber ? b : a;
  }
  validateHeader(file, current);
  return { current, slots, creator };
}

function validateHeader(file: VhdxFile, h: VhdxHeader): void {
  const where = { file: file.path, structure: 'header' as const, offset: HEADER_OFFSETS[h.slot] };
  if (h.version !== 1) throw vhdxUnsupported(where, `header version ${h.version} (only 1 is defined)`);
  if (h.logGuid !== ZERO_GUID && h.logVersion !== 0) throw vhdxUnsupported(where, `log version ${h.logVersion} (only 0 is defined)`);
  if (h.logLength % MiB !== 0) throw vhdxInvalid(where, `LogLength ${h.logLength} is not a multiple of 1 MiB`);
  if (h.logLength > 0 && (h.logOffset % MiB !== 0 || h.logOffset < MiB)) {
    throw vhdxInvalid(where, `LogOffset ${h.logOffset} is not a multiple of 1 MiB at or after 1 MiB`);
  }
  if (h.logGuid !== ZERO_GUID && h.logLength === 0) throw vhdxInvalid(where, 'LogGuid is set but LogLength is 0');
}
