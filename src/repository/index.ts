/**
 * The repository: content-addressed chunks, per-disk indexes and restore point manifests on a
 * local folder, with verify, retention and garbage collection.
 */
export { openRepository, checkChunkSize, DEFAULT_CHUNK_SIZE, REPOSITORY_FILE, type OpenRepositoryArgs } from './open-repository.js';
export { Repository } from './repository.js';
export { RestorePointWriter } from './restore-point-writer.js';
export type { PutChunkResult } from './chunk-store.js';
export { hashChunk, isAllZero, isChunkId } from './hash.js';
export { encodeIndex, decodeIndex, chunkCount, INDEX_MAGIC, INDEX_VERSION } from './disk-index.js';
export { selectRetention, isoWeek } from './retention.js';
export type * from './types.js';
