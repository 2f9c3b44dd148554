import { HvsnapError } from '../core/errors.js';
import { chunkId } from './chunk-id.js';
import type { ChunkId } from './types.js';

export { isAllZero } from '../core/zero.js';

/** The unkeyed chunk id (lowercase hex SHA-256): {@link chunkId} without a key. Kept for v1 callers. */
export function hashChunk(data: Uint8Array): ChunkId {
  return chunkId(data);
}

const CHUNK_ID = /^[0-9a-f]{64}$/;

/** True for a well-formed chunk id (64 lowercase hex digits). */
export function isChunkId(id: unknown): id is ChunkId {
  return typeof id === 'string' && CHUNK_ID.test(id);
}

/** Throws `input_invalid` unless `id` is a well-formed chunk id. */
export function checkChunkId(id: unknown, field = 'chunkId'): ChunkId {
  if (!isChunkId(id)) {
    throw new HvsnapError('input_invalid', `${field} must be 64 lowercase hex digits (a SHA-256), got ${JSON.stringify(String(id).slice(0, 80))}`, {
      context: { field },
    });
  }
  return id;
}
