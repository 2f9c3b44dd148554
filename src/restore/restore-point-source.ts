import type { Repository } from '../repository/index.js';
import type { DiskIndex, RestorePointManifest } from '../repository/types.js';

/**
 * The few reads of a restore point that mount (and export) need, kept narrow so that a new
 * repository format changes only {@link repositorySource}: the manifest, a disk's chunk index,
 * and a chunk's bytes by id (checked as a restore checks them: Repository.readChunk).
 */
export interface RestorePointSource {
  manifest(restorePointId: string): Promise<RestorePointManifest>;
  diskIndex(restorePointId: string, diskId: string): Promise<DiskIndex>;
  /** the chunk's bytes; rejects when it is missing or fails its check (checksum, tag or id) */
  chunk(chunkId: string): Promise<Buffer>;
  /**
   * Keeps what the reader reads from being collected until `release` (a repository's shared lock:
   * gc refuses meanwhile, naming `purpose`). For readers that outlive one call, like a mount.
   * `release` is idempotent.
   */
  hold(purpose: string): Promise<{ release(): Promise<void> }>;
}

/** The source over a repository of today's format. */
export function repositorySource(repository: Repository): RestorePointSource {
  return {
    manifest: (id) => repository.getRestorePoint(id),
    diskIndex: (id, diskId) => repository.readIndex(id, diskId),
    chunk: (chunkId) => repository.readChunk(chunkId),
    hold: (purpose) => repository.lockForReading(purpose),
  };
}
