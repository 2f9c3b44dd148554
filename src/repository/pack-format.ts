import { createHash, createHmac } from 'node:crypto';
import { HvsnapError } from '../core/errors.js';
import type { ChunkId } from './types.js';

/**
 * A pack file: chunks (blobs) appended one after another, then a trailer that lists them, so a
 * pack describes itself and the index can be rebuilt from the packs alone (restic's and kopia's
 * layout). Little-endian:
 *
 * | part | size | content |
 * |---|---|---|
 * | header | 16 | magic `HVSNPACK`, version (the repository's format version, 2 or 3), 4 reserved bytes |
 * | blobs | … | each as codec-worker.mjs `sealInto` wrote it (version 3: an unencrypted blob ends in its 4-byte checksum) |
 * | entries | 44 × count | chunk id (32), offset (4), stored length (4), info (4: raw length, bit 31 = compressed) |
 * | footer | 48 | count (4), checksum of header and entries (32: SHA-256, or HMAC-SHA-256 with the id key), 4 reserved, magic `HVSNPEND` |
 */
export const PACK_MAGIC = Buffer.from('HVSNPACK', 'latin1');
export const PACK_END = Buffer.from('HVSNPEND', 'latin1');
/** The pack versions: a repository's packs have its format version (open-repository.ts). */
export type PackVersion = 2 | 3;
export const PACK_HEADER_BYTES = 16;
export const PACK_ENTRY_BYTES = 44;
export const PACK_FOOTER_BYTES = 48;
const COMPRESSED = 0x8000_0000;

/** What the packs of one repository are: their version, and the key of their checksums (encrypted repositories). */
export interface PackFormat {
  version: PackVersion;
  macKey: Buffer | undefined;
}

/** One chunk in a pack. Offsets and lengths in bytes. */
export interface PackEntry {
  id: ChunkId;
  offset: number;
  length: number;
  rawLength: number;
  compressed: boolean;
}

/** The header every pack of `version` starts with. */
export function packHeader(version: PackVersion): Buffer {
  const h = Buffer.alloc(PACK_HEADER_BYTES);
  PACK_MAGIC.copy(h, 0);
  h.writeUInt32LE(version, 8);
  return h;
}

/** Packs raw length and the compressed flag into one 32-bit word. */
export function infoOf(rawLength: number, compressed: boolean): number {
  return (rawLength | (compressed ? COMPRESSED : 0)) >>> 0;
}

/** The inverse of {@link infoOf}. */
export function fromInfo(info: number): { rawLength: number; compressed: boolean } {
  return { rawLength: info & ~COMPRESSED & 0x7fff_ffff, compressed: (info & COMPRESSED) !== 0 };
}

function checksum(parts: Buffer[], macKey: Buffer | undefined): Buffer {
  const h = macKey ? createHmac('sha256', macKey) : createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Entries and footer of a pack holding `entries`. */
export function packTrailer(entries: readonly PackEntry[], format: PackFormat): Buffer {
  const body = Buffer.alloc(entries.length * PACK_ENTRY_BYTES);
  entries.forEach((e, i) => {
    const at = i * PACK_ENTRY_BYTES;
    body.write(e.id, at, 32, 'hex');
    body.writeUInt32LE(e.offset, at + 32);
    body.writeUInt32LE(e.length, at + 36);
    body.writeUInt32LE(infoOf(e.rawLength, e.compressed), at + 40);
  });
  const footer = Buffer.alloc(PACK_FOOTER_BYTES);
  footer.writeUInt32LE(entries.length, 0);
  checksum([packHeader(format.version), body], format.macKey).copy(footer, 4);
  PACK_END.copy(footer, 40);
  return Buffer.concat([body, footer]);
}

/**
 * Parses the trailer of a pack of `fileSize` bytes from its last bytes (`tail`, at least the
 * footer; the entries too when `tail` is long enough, else `needBytes` says how many to read).
 * `integrity_failed` naming `file` for a damaged or truncated pack.
 */
export function parsePackTrailer(tail: Buffer, fileSize: number, file: string, format: PackFormat): { entries: PackEntry[] } | { needBytes: number } {
  const bad = (why: string): never => {
    throw new HvsnapError('integrity_failed', `pack ${file} is damaged: ${why}`, { context: { file, reason: 'pack_damaged' } });
  };
  if (fileSize < PACK_HEADER_BYTES + PACK_FOOTER_BYTES || tail.length < PACK_FOOTER_BYTES) bad(`${fileSize} bytes is too short for a pack (truncated)`);
  const footer = tail.subarray(tail.length - PACK_FOOTER_BYTES);
  if (!footer.subarray(40).equals(PACK_END)) bad('no trailer at its end (truncated or not a pack)');
  if (footer.readUInt32LE(36) !== 0) bad('the reserved bytes of its footer are not zero');
  const count = footer.readUInt32LE(0);
  const need = count * PACK_ENTRY_BYTES + PACK_FOOTER_BYTES;
  if (need + PACK_HEADER_BYTES > fileSize) bad(`its trailer lists ${count} chunks, more than ${fileSize} bytes can hold`);
  if (tail.length < need) return { needBytes: need };
  const body = tail.subarray(tail.length - need, tail.length - PACK_FOOTER_BYTES);
  if (!checksum([packHeader(format.version), body], format.macKey).equals(footer.subarray(4, 36))) bad('the checksum of its trailer does not match');
  const entries: PackEntry[] = [];
  const end = fileSize - need;
  for (let i = 0; i < count; i++) {
    const at = i * PACK_ENTRY_BYTES;
    const offset = body.readUInt32LE(at + 32);
    const length = body.readUInt32LE(at + 36);
    if (offset < PACK_HEADER_BYTES || offset + length > end) bad(`entry ${i} points outside the pack's blobs`);
    entries.push({ id: body.toString('hex', at, at + 32), offset, length, ...fromInfo(body.readUInt32LE(at + 40)) });
  }
  return { entries };
}

/** Checks the 16-byte header of a pack of `version`. */
export function checkPackHeader(head: Buffer, file: string, version: PackVersion): void {
  // all 16 bytes: the reserved ones too, so that no byte of a pack goes unchecked
  if (head.length < PACK_HEADER_BYTES || !head.subarray(0, PACK_HEADER_BYTES).equals(packHeader(version))) {
    throw new HvsnapError('integrity_failed', `pack ${file} is damaged: bad header`, { context: { file, reason: 'pack_damaged' } });
  }
}
