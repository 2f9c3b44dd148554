import type { ConsistencyLevel } from '../core/types.js';

/**
 * The repository API the rest of hvsnap uses (backup, data mover, restore). Implemented in
 * src/repository. Sizes in bytes, durations in ms, times ISO-8601.
 */

/** 64 lowercase hex digits: SHA-256 of a chunk's content, or HMAC-SHA-256 keyed by an encrypted repository's id key (see chunkId). */
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
  formatVersion: 2;
  /**
   * unique, sortable by time, safe as a folder name: `<UTC time to the ms>-<VM name slug>-<random>`,
   * e.g. `20261126T124100123Z-sql-01-9f3a2c1b` (assigned by beginRestorePoint)
   */
  id: string;
  jobId: string;
  vm: { id: string; name: string; host: string; configVersion: string; generation: 1 | 2 };
  createdAt: string;
  /** `host`: copied like offload, but read over SFTP from the Hyper-V node while the checkpoint lived */
  mode: 'offload' | 'snapshot-only' | 'host';
  consistency: ConsistencyLevel;
  referencePointId?: string;
  /** the restore point this one's unchanged chunks were taken from */
  parentId?: string;
  /** array snapshot sets this backup used, and whether they were retained */
  arraySnapshots: Array<{
    provider: string;
    name: string;
    retained: boolean;
    /** the provider's snapshot handle (its array ids, JSON); later calls take it instead of the name. Absent in older manifests. */
    handle?: Record<string, unknown>;
  }>;
  /** disks copied into the repository (offload mode); empty in snapshot-only mode */
  disks: RestorePointDisk[];
  /** snapshot-only mode: where each disk is inside the retained array snapshot */
  snapshotDisks?: SnapshotDisk[];
  /** configuration files stored beside the disks (names) */
  configFiles: string[];
  timings: Record<string, number>;
}

/** A disk of a snapshot-only restore point: a file on a volume of the retained array snapshot. */
export interface SnapshotDisk {
  diskId: string;
  virtualDiskId: string;
  /** the disk's host path at backup time */
  sourcePath: string;
  virtualSize: number;
  /** the volume the file is on, and its path below the volume root */
  volume: { identity: { kind: 'naa' | 'eui' | 'serial'; id: string; serial?: string }; volumeRoot: string };
  relativePath: string;
}

/** One problem verify found, naming where it is. */
export interface VerifyProblem {
  kind:
    | 'manifest_invalid'
    | 'index_missing'
    | 'index_invalid'
    | 'index_mismatch'
    | 'chunk_missing'
    | 'chunk_corrupt'
    | 'chunk_size'
    | 'config_missing'
    | 'index_file_damaged'
    | 'pack_damaged';
  restorePointId: string;
  vm?: string;
  diskId?: string;
  /** position of the chunk in the disk's index */
  chunkIndex?: number;
  /** byte offset in the virtual disk of that chunk */
  offset?: number;
  chunkId?: string;
  /** the file at fault */
  file?: string;
  message: string;
}

/** What {@link Repository.verify} checked and found. */
export interface VerifyReport {
  ok: boolean;
  deep: boolean;
  restorePoints: number;
  disks: number;
  /** chunk references checked (a chunk shared by many disks is counted once per reference) */
  chunkRefs: number;
  /** distinct chunks checked for presence (and re-hashed when deep) */
  chunksChecked: number;
  /** bytes re-hashed (deep only) */
  bytesHashed: number;
  durationMs: number;
  /** at most 1000 problems are listed; the rest are only counted here */
  problemsOmitted: number;
  problems: VerifyProblem[];
}

/** Retention policy, applied per VM. Every count is a number of restore points to keep (>= 0). */
export interface RetentionPolicy {
  /** keep the newest N */
  keepLast?: number;
  /** keep the newest of each of the last N days (UTC) that have a restore point */
  keepDaily?: number;
  /** keep the newest of each of the last N ISO weeks (UTC) that have a restore point */
  keepWeekly?: number;
  /** keep the newest of each of the last N months (UTC) that have a restore point */
  keepMonthly?: number;
  /** keep the newest of each of the last N years (UTC) that have a restore point */
  keepYearly?: number;
}

/** One restore point and why retention keeps or removes it. */
export interface RetentionDecision {
  id: string;
  vmId: string;
  vmName: string;
  createdAt: string;
  /** e.g. `last 1`, `daily 2026-11-26`, `weekly 2026-W48`; empty for a removed one */
  reasons: string[];
}

export interface RetentionResult {
  dryRun: boolean;
  kept: RetentionDecision[];
  /** deleted, or that would be deleted with dryRun */
  deleted: RetentionDecision[];
}

export interface GcResult {
  chunksDeleted: number;
  /** bytes of pack files removed */
  bytesFreed: number;
  chunksKept: number;
  /** packs whose live chunks were copied into new packs (live share below the threshold, or a quarantined copy) */
  packsRewritten: number;
  /** pack files removed (rewritten, empty, or left by a crashed writer) */
  packsDeleted: number;
  /** temp folders of crashed or aborted writers and deletions that were removed */
  tempRemoved: number;
  durationMs: number;
}
