import { createHash, createHmac } from 'node:crypto';
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
