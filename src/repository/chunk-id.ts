import { createHash, createHmac } from 'node:crypto';
import { codecPool } from './codec-pool.js';
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

/**
 * {@link chunkId}, computed on the codec pool's worker threads instead of the calling thread, so
 * that hashing uses every core while the main thread reads and writes. Same result; a chunk on a
 * SharedArrayBuffer is hashed in place, any other is copied to shared memory first.
 */
export function chunkIdOffThread(data: Uint8Array, key?: Uint8Array): Promise<ChunkId> {
  return codecPool().id(data, key);
}
