import type { AlignedMemorySource } from '../../src/core/aligned-memory.js';
/**
 * What the parent asks a worker process to do, and what the worker answers. One task per
 * process, so each reports its own peak RSS unpolluted by others.
 */

export type WorkerTask =
  /** loads the same modules and does nothing: the baseline RSS of a worker */
  | { kind: 'idle' }
  /** one runBackup of every VM of the lab into the repository */
  | {
      kind: 'backup';
      labDir: string;
      repoDir: string;
      forceFull: boolean;
      /** an encrypted repository with this passphrase */ passphrase?: string;
      host?: HostModeTarget;
    }
  /** restoreDisk of one disk into `target`, then verifyDiskAgainstIndex of the result */
  | {
      kind: 'restore';
      repoDir: string;
      restorePointId: string;
      diskId: string;
      target: string;
      passphrase?: string;
      /** skip the read-back check */ noVerify?: boolean;
    };

/** Host mode: the lab's volumes served by an sshd on 127.0.0.1 (the bench's own, see scenarios/host-mode.ts). */
export interface HostModeTarget {
  port: number;
  clientKey: string;
  hostKeyFingerprint: string;
  /** lab volume roots → their folders, as the SFTP server names them */
  roots: Array<{ hostRoot: string; sftpRoot: string }>;
}

export interface BackupVmFigures {
  vm: string;
  restorePointId: string;
  checkpointLifetimeMs: number;
  bytesRead: number;
  /** bytes the RCT ranges cover (incremental disks only) */
  changedBytes: number;
  modes: string[];
  diskIds: string[];
}

export interface BackupAnswer {
  kind: 'backup';
  /** wall time of runBackup, ms */
  ms: number;
  /** wall time during which at least one VM was copying (its copy step's start → its commit's end), ms */
  copyWallMs: number;
  snapshotSets: number;
  bytesRead: number;
  bytesWritten: number;
  vms: BackupVmFigures[];
}

export interface RestoreAnswer {
  kind: 'restore';
  restoreMs: number;
  /** of restoreMs, the final fsync (RestoreDiskResult.syncMs) */
  syncMs: number;
  verifyMs: number;
  virtualSize: number;
  mismatches: number;
}

export type WorkerAnswer = (BackupAnswer | RestoreAnswer | { kind: 'idle' }) & PeakRss & WorkerMemory;

/** Where the worker's direct I/O buffers came from (core/aligned-memory.ts): `malloc` is in huge pages. */
export interface WorkerMemory {
  alignedMemory: AlignedMemorySource;
}

export interface PeakRss {
  /** peak resident set size of the worker process, bytes */
  peakRssBytes: number;
  /**
   * `VmHWM` (Linux, /proc/self/status): the peak of this process's own memory. `maxRSS`
   * (getrusage) elsewhere; on Linux getrusage's maxRSS of a spawned child starts at its parent's
   * RSS at fork time, so it would report the bench's own memory for a small worker.
   */
  source: 'VmHWM' | 'maxRSS';
}

/** Marks the answer line on the worker's stdout. */
export const ANSWER_MARK = '@@hvsnap-bench-answer@@ ';
