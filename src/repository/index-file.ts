import { createHash, createHmac } from 'node:crypto';
import { HvsnapError } from '../core/errors.js';
import type { ChunkIndex, ChunkLocation } from './chunk-index.js';
import type { PackEntry } from './pack-format.js';
import { infoOf } from './pack-format.js';

/**
 * An index file (`index/<name>.idx`): which chunks which packs hold, written at each commit for
 * the packs sealed since the last one, and consolidated by gc. Little-endian:
 *
 * | part | size | content |
 * |---|---|---|
 * | header | 24 | magic `HVSNPIDX`, version (2), pack count, entry count, 4 reserved |
 * | packs | 16 × packs | pack names (32 hex digits as 16 bytes) |
 * | entries | 48 × entries | chunk id (32), pack number in this file (4), offset (4), stored length (4), info (4) |
 * | checksum | 32 | SHA-256 (HMAC-SHA-256 with the id key when encrypted) of everything before |
 *
 * The packs themselves list their chunks too, so a lost or damaged index file is rebuilt from
 * them (`verify --repair`).
 */
const MAGIC = Buffer.from('HVSNPIDX', 'latin1');
const HEADER = 24;
const PACK_NAME = 16;
const ENTRY = 48;
const SUM = 32;

function sum(data: Buffer, macKey: Buffer | undefined): Buffer {
  return (macKey ? createHmac('sha256', macKey) : createHash('sha256')).update(data).digest();
}

/** Encodes the entries of `packs` (pack name → its chunks). */
export function encodeIndexFile(packs: ReadonlyArray<{ name: string; entries: readonly PackEntry[] }>, macKey: Buffer | undefined): Buffer {
  const count = packs.reduce((n, p) => n + p.entries.length, 0);
  const buf = Buffer.alloc(HEADER + PACK_NAME * packs.length + ENTRY * count + SUM);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(2, 8);
  buf.writeUInt32LE(packs.length, 12);
  buf.writeUInt32LE(count, 16);
  let at = HEADER + PACK_NAME * packs.length;
  packs.forEach((p, i) => {
    buf.write(p.name, HEADER + PACK_NAME * i, PACK_NAME, 'hex');
    for (const e of p.entries) {
      buf.write(e.id, at, 32, 'hex');
      buf.writeUInt32LE(i, at + 32);
      buf.writeUInt32LE(e.offset, at + 36);
      buf.writeUInt32LE(e.length, at + 40);
      buf.writeUInt32LE(infoOf(e.rawLength, e.compressed), at + 44);
      at += ENTRY;
    }
  });
  sum(buf.subarray(0, at), macKey).copy(buf, at);
  return buf;
}

/**
 * Checks an index file and adds its entries to `index`; `accept(id, packName)` decides whether an
 * entry replaces a location the index already has (the loader prefers copies not known bad).
 * `integrity_failed` naming `file` when it is damaged: nothing is added then.
 */
export function loadIndexFile(
  buf: Buffer,
  file: string,
  macKey: Buffer | undefined,
  index: ChunkIndex,
  replace: (existingPack: string, id: Buffer) => boolean,
): number {
  const bad = (why: string): never => {
    throw new HvsnapError('integrity_failed', `index file ${file} is damaged: ${why}`, { context: { file, reason: 'index_damaged' } });
  };
  if (buf.length < HEADER + SUM || !buf.subarray(0, 8).equals(MAGIC)) bad('bad header');
  if (buf.readUInt32LE(8) !== 2) bad(`unsupported version ${buf.readUInt32LE(8)}`);
  const packs = buf.readUInt32LE(12);
  const count = buf.readUInt32LE(16);
  const end = HEADER + PACK_NAME * packs + ENTRY * count;
  if (buf.length !== end + SUM) bad(`${buf.length} bytes, expected ${end + SUM} (truncated or trailing data)`);
  if (!sum(buf.subarray(0, end), macKey).equals(buf.subarray(end))) bad('its checksum does not match');
  index.reserve(index.size + count);
  const numbers = Array.from({ length: packs }, (_, i) => index.packNumber(buf.toString('hex', HEADER + PACK_NAME * i, HEADER + PACK_NAME * (i + 1))));
  let at = HEADER + PACK_NAME * packs;
  // one callback for every entry: it reads the id of the entry `at` is on
  const keep = (current: ChunkLocation) => !replace(index.packs[current.pack], buf.subarray(at, at + 32));
  for (; at < end; at += ENTRY) {
    const p = buf.readUInt32LE(at + 32);
    if (p >= packs) bad(`entry at byte ${at} names pack ${p} of ${packs}`);
    index.setAt(buf, at, { pack: numbers[p], offset: buf.readUInt32LE(at + 36), length: buf.readUInt32LE(at + 40), info: buf.readUInt32LE(at + 44) }, keep);
  }
  return count;
}
