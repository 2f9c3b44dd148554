import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { HvsnapError } from '../core/errors.js';
import { codecPool, type OpenItem, type OpenMode } from './codec-pool.js';
import type { ChunkId } from './types.js';

/** The keys of an encrypted repository: `enc` encrypts blobs (AES-256-GCM), `mac` keys chunk ids and checksums. 32 bytes each. */
export interface RepositoryKeys {
  enc: Buffer;
  mac: Buffer;
}

const NONCE = 12;
const TAG = 16;

/** A chunk as stored in a pack: its bytes and how to get the chunk back. */
export interface SealedBlob {
  stored: Uint8Array;
  /** true when `stored` holds zstd-compressed bytes (before encryption) */
  compressed: boolean;
}

/** Bytes of the checksum that ends an unencrypted blob of a version 3 pack (codec-worker.mjs `CRC_BYTES`). */
export const CRC_BYTES = 4;

/**
 * The chunk as a view of `stored` itself when the blob holds it as is (stored raw, unencrypted:
 * the whole blob, or all but its checksum in a version 3 pack), so it is opened in place without a
 * copy; undefined otherwise.
 */
export function inPlaceOf(stored: Buffer, rawLength: number, compressed: boolean, keys: RepositoryKeys | undefined, mode: OpenMode): Buffer | undefined {
  const extra = mode.crc ? CRC_BYTES : 0;
  return !keys && !compressed && stored.length === rawLength + extra ? stored.subarray(0, rawLength) : undefined;
}

/**
 * The chunk back from a stored blob, checked as `mode` says (GCM tag when encrypted, or the blob's
 * checksum in a version 3 pack; raw length; and the bytes hashed to `id` with the repository's id
 * key, see OpenMode) on the codec pool; `integrity_failed` naming `where` otherwise. `out`
 * (rawLength bytes) receives the chunk; by default a new buffer, or {@link inPlaceOf} `stored`.
 */
export async function openBlob(
  stored: Buffer,
  id: ChunkId,
  rawLength: number,
  compressed: boolean,
  keys: RepositoryKeys | undefined,
  mode: OpenMode,
  where: string,
  out: Buffer = inPlaceOf(stored, rawLength, compressed, keys, mode) ?? Buffer.allocUnsafe(rawLength),
): Promise<Buffer> {
  const problem = await codecPool().open(stored, out, id, rawLength, compressed, keys, mode);
  if (problem) throw corrupt(id, where, problem);
  return out;
}

/**
 * {@link openBlob} of each of `blobs` (each with its `out`, rawLength bytes) in one task on the codec
 * pool (CodecPool.openAll): for each, in order, undefined when it is sound, else the error
 * {@link openBlob} would throw for it. Throws only when the check itself could not run.
 */
export async function openBlobs(
  blobs: readonly OpenItem[],
  keys: RepositoryKeys | undefined,
  mode: OpenMode,
  where: string,
): Promise<Array<HvsnapError | undefined>> {
  const problems = await codecPool().openAll(blobs, keys, mode);
  return problems.map((problem, k) => (problem ? corrupt(blobs[k].id, where, problem) : undefined));
}

function corrupt(id: ChunkId, where: string, problem: string): HvsnapError {
  return new HvsnapError('integrity_failed', `chunk ${id} in ${where} is corrupt: ${problem}`, { context: { chunk: id, file: where } });
}

/** AES-256-GCM: `nonce(12) | ciphertext | tag(16)`. */
export function encrypt(key: Buffer, plain: Uint8Array, aad?: Buffer): Buffer {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) c.setAAD(aad);
  const out = Buffer.allocUnsafe(NONCE + plain.byteLength + TAG);
  nonce.copy(out, 0);
  const body = c.update(plain);
  body.copy(out, NONCE);
  const fin = c.final();
  fin.copy(out, NONCE + body.length);
  c.getAuthTag().copy(out, NONCE + plain.byteLength);
  return out;
}

/** Inverse of {@link encrypt}; throws (an OpenSSL error) when the tag does not match. */
export function decrypt(key: Buffer, sealed: Buffer, aad?: Buffer): Buffer {
  if (sealed.length < NONCE + TAG) throw new Error(`sealed data of ${sealed.length} bytes is shorter than nonce and tag`);
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
  if (aad) d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
}
