import { HvsnapError } from '../core/errors.js';
import type { DiskIndex } from './types.js';
import { isChunkId } from './hash.js';

/**
 * The on-disk format of a disk index, little-endian:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 8 | magic `HVSNIDX\0` |
 * | 8 | 4 | format version (1) |
 * | 12 | 4 | chunk size, bytes |
 * | 16 | 8 | virtual size, bytes |
 * | 24 | 8 | chunk count = ceil(virtual size / chunk size) |
 * | 32 | 32 × count | SHA-256 of each chunk; 32 zero bytes = an all-zero chunk (not stored) |
 *
 * The file's own SHA-256 is recorded in the manifest, so a bit flip anywhere is caught.
 */
export const INDEX_MAGIC = Buffer.from('HVSNIDX\0', 'latin1');
export const INDEX_VERSION = 1;
export const INDEX_HEADER_BYTES = 32;
const HASH_BYTES = 32;

/** Number of chunks a disk of `virtualSize` bytes has with `chunkSize`-byte chunks. */
export function chunkCount(virtualSize: number, chunkSize: number): number {
  return Math.ceil(virtualSize / chunkSize);
}

/** Encodes an index. Throws `input_invalid` naming the entry when the index is inconsistent. */
export function encodeIndex(index: DiskIndex, what = 'index'): Buffer {
  const { chunkSize, virtualSize, chunks } = index;
  if (!Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw new HvsnapError('input_invalid', `${what}: virtualSize must be a non-negative integer (bytes), got ${virtualSize}`, {
      context: { field: 'virtualSize' },
    });
  }
  if (chunks.length !== chunkCount(virtualSize, chunkSize)) {
    throw new HvsnapError(
      'input_invalid',
      `${what}: ${chunks.length} chunk entries for a ${virtualSize}-byte disk with ${chunkSize}-byte chunks; expected ${chunkCount(virtualSize, chunkSize)}`,
      { context: { field: 'chunks' } },
    );
  }
  const buf = Buffer.alloc(INDEX_HEADER_BYTES + HASH_BYTES * chunks.length);
  INDEX_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(INDEX_VERSION, 8);
  buf.writeUInt32LE(chunkSize, 12);
  buf.writeBigUInt64LE(BigInt(virtualSize), 16);
  buf.writeBigUInt64LE(BigInt(chunks.length), 24);
  for (let i = 0; i < chunks.length; i++) {
    const id = chunks[i];
    if (id === null) continue;
    if (!isChunkId(id)) {
      throw new HvsnapError('input_invalid', `${what}: chunk ${i} has an invalid id ${JSON.stringify(String(id).slice(0, 80))}`, {
        context: { field: `chunks[${i}]` },
      });
    }
    buf.write(id, INDEX_HEADER_BYTES + HASH_BYTES * i, HASH_BYTES, 'hex');
  }
  return buf;
}

/** Decodes an index file. Throws `repository_invalid` naming `file` and the offset of the problem. */
export function decodeIndex(buf: Buffer, file: string): DiskIndex {
  const fail = (msg: string, offset: number): never => {
    throw new HvsnapError('repository_invalid', `index file ${file}: ${msg}`, { context: { file, offset } });
  };
  if (buf.length < INDEX_HEADER_BYTES) fail(`truncated: ${buf.length} bytes, the header alone is ${INDEX_HEADER_BYTES}`, 0);
  if (!buf.subarray(0, 8).equals(INDEX_MAGIC)) fail('bad magic (not an hvsnap disk index)', 0);
  const version = buf.readUInt32LE(8);
  if (version !== INDEX_VERSION) fail(`unsupported format version ${version}`, 8);
  const chunkSize = buf.readUInt32LE(12);
  if (chunkSize === 0 || (chunkSize & (chunkSize - 1)) !== 0) fail(`chunk size ${chunkSize} is not a power of two`, 12);
  const virtualSize = Number(buf.readBigUInt64LE(16));
  const count = Number(buf.readBigUInt64LE(24));
  if (count !== chunkCount(virtualSize, chunkSize)) fail(`chunk count ${count} does not match virtual size ${virtualSize} / chunk size ${chunkSize}`, 24);
  const expected = INDEX_HEADER_BYTES + HASH_BYTES * count;
  if (buf.length !== expected)
    fail(`${buf.length} bytes, expected ${expected} for ${count} chunks (truncated or trailing data)`, Math.min(buf.length, expected));
  const chunks: Array<string | null> = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = INDEX_HEADER_BYTES + HASH_BYTES * i;
    // an all-zero hash marks an all-zero chunk; test the 32 bytes as four 64-bit words
    const isNull =
      buf.readBigUInt64LE(at) === 0n && buf.readBigUInt64LE(at + 8) === 0n && buf.readBigUInt64LE(at + 16) === 0n && buf.readBigUInt64LE(at + 24) === 0n;
    chunks[i] = isNull ? null : buf.toString('hex', at, at + HASH_BYTES);
  }
  return { chunkSize, virtualSize, chunks };
}
