import { createCipheriv, createDecipheriv, randomBytes, webcrypto } from 'node:crypto';
import { compress, decompress } from '@mongodb-js/zstd';
import { HvsnapError } from '../core/errors.js';
import { chunkIdOffThread } from './chunk-id.js';
import type { ChunkId } from './types.js';

/** The keys of an encrypted repository: `enc` encrypts blobs (AES-256-GCM), `mac` keys chunk ids and checksums. 32 bytes each. */
export interface RepositoryKeys {
  enc: Buffer;
  mac: Buffer;
}

/** zstd level for chunks: 3 is zstd's default, within a few % of the size of level 9 on disk images at several times the speed. */
export const ZSTD_LEVEL = 3;
const NONCE = 12;
const TAG = 16;
/** bytes an encrypted blob adds to its payload */
export const SEAL_OVERHEAD = NONCE + TAG;

/** A chunk as stored in a pack: its bytes and how to get the chunk back. */
export interface SealedBlob {
  stored: Buffer;
  /** true when `stored` holds zstd-compressed bytes (before encryption) */
  compressed: boolean;
}

/**
 * Compresses a chunk with zstd, keeping the raw bytes when compression does not shrink them by at
 * least 1/64 (incompressible data costs nothing to restore), then with `keys` encrypts the result
 * with AES-256-GCM under a random 96-bit nonce, the chunk id as additional data (a blob moved to
 * another id fails its tag). Output: `nonce | ciphertext | tag`.
 */
export async function sealBlob(raw: Buffer, id: ChunkId, keys: RepositoryKeys | undefined, level = ZSTD_LEVEL): Promise<SealedBlob> {
  const packed = await compress(raw, level);
  const compressed = packed.length < raw.length - (raw.length >> 6);
  const payload = compressed ? packed : raw;
  if (!keys) return { stored: compressed ? packed : Buffer.from(raw), compressed };
  const nonce = randomBytes(NONCE);
  const sealed = await webcrypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: aadOf(id, compressed), tagLength: TAG * 8 },
    await gcmKey(keys.enc),
    payload,
  );
  return { stored: Buffer.concat([nonce, Buffer.from(sealed)]), compressed };
}

const gcmKeys = new WeakMap<Buffer, Promise<webcrypto.CryptoKey>>();
/** The blob key as a WebCrypto key: blob encryption and decryption run on libuv's thread pool, off the main thread. */
function gcmKey(key: Buffer): Promise<webcrypto.CryptoKey> {
  let k = gcmKeys.get(key);
  if (!k) gcmKeys.set(key, (k = webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt'])));
  return k;
}

/**
 * The chunk back from a stored blob, checked: the GCM tag (encrypted), the raw length and that the
 * bytes hash to `id` (with the repository's id key). `integrity_failed` naming `where` otherwise.
 */
export async function openBlob(
  stored: Buffer,
  id: ChunkId,
  rawLength: number,
  compressed: boolean,
  keys: RepositoryKeys | undefined,
  where: string,
): Promise<Buffer> {
  const bad = (why: string, cause?: unknown): HvsnapError =>
    new HvsnapError('integrity_failed', `chunk ${id} in ${where} is corrupt: ${why}`, { cause, context: { chunk: id, file: where } });
  let payload = stored;
  if (keys) {
    try {
      if (stored.length < NONCE + TAG) throw new Error(`${stored.length} bytes is shorter than nonce and tag`);
      const iv = stored.subarray(0, NONCE);
      payload = Buffer.from(
        await webcrypto.subtle.decrypt(
          { name: 'AES-GCM', iv, additionalData: aadOf(id, compressed), tagLength: TAG * 8 },
          await gcmKey(keys.enc),
          stored.subarray(NONCE),
        ),
      );
    } catch (e) {
      throw bad('it fails authentication (tampered or damaged)', e);
    }
  }
  let raw: Buffer;
  if (compressed) {
    try {
      raw = await decompress(payload);
    } catch (e) {
      throw bad('it does not decompress', e);
    }
  } else raw = payload;
  if (raw.length !== rawLength) throw bad(`it holds ${raw.length} bytes, the index says ${rawLength}`);
  if ((await chunkIdOffThread(raw, keys?.mac)) !== id) throw bad('its content does not hash to its id');
  return raw;
}

function aadOf(id: ChunkId, compressed: boolean): Buffer {
  return Buffer.concat([Buffer.from(id, 'hex'), Buffer.from([compressed ? 1 : 0])]);
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
