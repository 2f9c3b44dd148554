/**
 * The repository: content-addressed chunks, per-disk indexes and restore point manifests on a
 * local folder, with verify, retention and garbage collection.
 */
export {
  openRepository,
  checkChunkSize,
  DEFAULT_CHUNK_SIZE,
  REPOSITORY_FILE,
  FORMAT_VERSION,
  type OpenRepositoryArgs,
  type RepositoryConfig,
} from './open-repository.js';
export { Repository, type OpenedRestorePoint } from './repository.js';
export { chunkId } from './chunk-id.js';
export { newRestorePointId } from './manifest.js';
export { migrateRepository, type MigrateResult } from './migrate.js';
export { changePassphrase, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV } from './passphrase.js';
export type { RepairResult } from './repair.js';
export { RestorePointWriter } from './restore-point-writer.js';
export type { PutChunkResult } from './pack-store.js';
export { hashChunk, isAllZero, isChunkId } from './hash.js';
export { encodeIndex, decodeIndex, chunkCount, INDEX_MAGIC, INDEX_VERSION } from './disk-index.js';
export { selectRetention, isoWeek } from './retention.js';
export type * from './types.js';
