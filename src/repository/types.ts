import type { ConsistencyLevel } from '../core/types.js';

/**
 * The repository API the rest of hvsnap uses (backup, data mover, restore). Implemented in
 * src/repository. Sizes in bytes, durations in ms, times ISO-8601.
 */

/** A 64-hex-digit lowercase SHA-256 of a chunk's content. */
export type ChunkId = string;

/** The fixed-size chunk index of one virtual disk: chunk i covers [i*chunkSize, (i+1)*chunkSize). */
export interface DiskIndex {
  chunkSize: number;
  virtualSize: number;
  /** one entry per chunk; null = all zeros (not stored) */
  chunks: Array<ChunkId | null>;
}

export interface RestorePointDisk {
  /** attachment id on the host (SASD InstanceID) */
  diskId: string;
  virtualDiskId: string;
  /** the disk's host path at backup time */
  sourcePath: string;
  virtualSize: number;
  /** RCT id of the reference point made by this backup (undefined when none was made) */
  rctId?: string;
  /** full or incremental, and what was read */
  mode: 'full' | 'incremental';
  bytesRead: number;
  bytesWritten: number;
  chunksNew: number;
  chunksReused: number;
  /** SHA-256 of the index file, checked by verify */
  indexSha256: string;
}

export interface RestorePointManifest {
  formatVersion: 1;
  /** unique, sortable: `<vmName>/<ISO time>-<jobId>` is NOT used; see RestorePoint.id */
  id: string;
  jobId: string;
  vm: { id: string; name: string; host: string; configVersion: string; generation: 1 | 2 };
  createdAt: string;
  mode: 'offload' | 'snapshot-only';
  consistency: ConsistencyLevel;
  referencePointId?: string;
  /** the restore point this one's unchanged chunks were taken from */
  parentId?: string;
  /** array snapshot sets this backup used, and whether they were retained */
  arraySnapshots: Array<{ provider: string; name: string; retained: boolean }>;
  disks: RestorePointDisk[];
  /** configuration files stored beside the disks (names) */
  configFiles: string[];
  timings: Record<string, number>;
}
