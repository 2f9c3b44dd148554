import { createHash, createHmac, webcrypto } from 'node:crypto';
import type { ChunkId } from './types.js';

/**
 * THE chunk id of hvsnap (one definition for the data mover, the repository and verify): lowercase
 * hex SHA-256 of the chunk's bytes, or with `key` (an encrypted repository's 32-byte id key)
 * HMAC-SHA-256 keyed by it, so that an id reveals nothing about the content to whoever lacks the
 * key. 64 characters either way.
 */
export function chunkId(data: Uint8Array, key?: Uint8Array): ChunkId {
  return (key ? createHmac('sha256', key) : createHash('sha256')).update(data).digest('hex');
}

const hmacKeys = new WeakMap<Uint8Array, Promise<webcrypto.CryptoKey>>();

/**
 * {@link chunkId}, computed on libuv's thread pool (WebCrypto) instead of the calling thread, so
 * that hashing many chunks uses every core while the main thread reads and writes. Same result.
 */
export async function chunkIdOffThread(data: Uint8Array, key?: Uint8Array): Promise<ChunkId> {
  if (!key) return Buffer.from(await webcrypto.subtle.digest('SHA-256', data)).toString('hex');
  let k = hmacKeys.get(key);
  if (!k) hmacKeys.set(key, (k = webcrypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])));
  return Buffer.from(await webcrypto.subtle.sign('HMAC', await k, data)).toString('hex');
}
