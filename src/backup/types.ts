import type { Logger } from '../core/logger.js';
import type { Checkpoint, ConsistencyLevel } from '../core/types.js';
import type { ConcurrencyLimits, LimitStats } from './limits.js';
import type { VolumeSet } from './plan.js';
import type { WorkQueue } from './work-queue.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import type { Provider, ProxyHost } from '../../providers/sdk/provider.js';
import type { Mount, Proxy } from '../../proxy/proxy.js';
import type { Repository } from '../repository/index.js';

/** The seams a backup runs against, already created and probed. */
export interface BackupEnvironment {
  hypervisor: Hypervisor;
  provider: Provider;
  proxy: Proxy;
  /** the proxy host as the array knows it (initiators) */
  proxyHost: ProxyHost;
  repository: Repository;
  logger: Logger;
  /** host mode: reads a Hyper-V node's files (over SFTP); absent, host mode is refused */
  hostMounts?: HostMounts;
}

/**
 * Host mode's way to a node's files: a read-only {@link Mount} over the node's own SSH connection
 * (proxy/sftp). `bytesPerSec` caps what is read from that node, all disks together.
 */
export interface HostMounts {
  mount(args: { host: string; bytesPerSec?: number; stats?: { bytesRead: number } }, opts?: { signal?: AbortSignal }): Promise<Mount>;
}

export interface BackupPolicy {
  /**
   * `offload` (default): copy the disks through the proxy, keep a reference point, delete the array
   * snapshot. `snapshot-only`: the retained array snapshot is the restore point (steps 1–3; the
   * checkpoint is deleted, no reference point); its configuration is stored in the repository.
   */
  /**
   * `host`: no array; the checkpoint stays while the proxy reads the frozen base VHDX over SFTP
   * from the VM's owner node, then becomes the reference point (the report says how long it lived).
   */
  mode: 'offload' | 'snapshot-only' | 'host';
  /** VMs whose volumes no configured provider owns are backed up in host mode instead of failing; default false */
  hostFallback: boolean;
  /** host mode: cap on reads from one Hyper-V node, bytes per second, all its disks together; default none */
  hostReadBytesPerSec?: number;
  /** consistency asked for; default application */
  consistency: ConsistencyLevel;
  /** fall back to crash-consistent when the guest cannot give application consistency; default true */
  allowCrashConsistent: boolean;
  /** VMs checkpointed at once within a set; default 8 */
  checkpointConcurrency: number;
  /** disks copied at once; default 2 */
  copyConcurrency: number;
  /** parallel reads per disk; default 8 (4 before: with 16, one trial full backup of a 2 GiB lab disk ran 10% faster than with 4) */
  readConcurrency: number;
  /** cap on reads from the snapshot, bytes per second; default none */
  throttleBytesPerSec?: number;
  /** ignore reference points: every disk full */
  forceFull: boolean;
  /** keep a host object (igroup, host) hvsnap created on the array for the proxy; default false: removed when the last set of the process using it ends */
  keepHosts?: boolean;
}

export const defaultPolicy: BackupPolicy = {
  mode: 'offload',
  consistency: 'application',
  allowCrashConsistent: true,
  hostFallback: false,
  checkpointConcurrency: 8,
  copyConcurrency: 2,
  readConcurrency: 8,
  forceFull: false,
};

/** The steps of the backup and restore lists (src/backup/steps/, src/restore/); `plan` is a VM the plan could not place. */
export type StepName =
  | 'plan'
  | 'preconditions'
  | 'checkpoint'
  | 'snapshot'
  | 'export'
  | 'changed-ranges'
  | 'convert'
  | 'delete-checkpoint'
  | 'find-host'
  | 'ensure-host'
  | 'present'
  | 'attach'
  | 'open-restore-point'
  | 'copy'
  | 'commit'
  | 'retain-snapshot'
  | 'supersede'
  | 'copy-out'
  | 'attach-host';

/** The journaled side effects of an instant restore (src/restore/instant), named for the kill hook of crash tests. */
export type InstantStepName = 'node-host' | 'present' | 'online-disk' | 'import' | 'start';

/** Hooks for tests and demos; a hook that throws injects a failure at that point. */
export interface BackupHooks {
  /** called at the start of each step (per VM where the step is per VM) */
  beforeStep?(step: StepName, where: { set: number; vm?: string }): void | Promise<void>;
  /** called once every checkpoint of a set exists, before the array snapshot */
  onCheckpoints?(checkpoints: Checkpoint[]): void | Promise<void>;
  /** called after each chunk the data mover stored */
  onChunk?(where: { vm: string; disk: string; index: number }): void | Promise<void>;
}

export interface BackupProgress {
  vm: string;
  /** the disk's stable id (an attachment id on Hyper-V) */
  disk: string;
  /** the VHDX file name, for people */
  diskName?: string;
  doneBytes: number;
  totalBytes: number;
}

export interface BackupOptions {
  /** VM names (all VMs of the host when omitted) */
  vms?: string[];
  /** VM ids; wins over `vms` (names need not be unique on a host) */
  vmIds?: string[];
  policy?: Partial<BackupPolicy>;
  /** default: derived from the time */
  jobId?: string;
  /** folder for the job journal; default `<repository>/.journal` */
  journalDir?: string;
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
  hooks?: BackupHooks;
  /** concurrency limits; default: one volume set at a time, `policy.copyConcurrency` copies */
  limits?: ConcurrencyLimits;
  /** where volume sets wait for a worker; default in-process */
  queue?: WorkQueue<VolumeSet>;
}

export interface DiskReport {
  diskId: string;
  mode: 'full' | 'incremental';
  /** why a disk that could have been incremental was copied in full */
  fullReason?: string;
  virtualSize: number;
  changedBytes?: number;
  bytesRead: number;
  bytesWritten: number;
  chunksNew: number;
  chunksReused: number;
}

export interface VmReport {
  vm: string;
  vmId: string;
  set: number;
  /** `interrupted`: the run was cancelled (Ctrl-C, SIGTERM) before this VM got a restore point */
  status: 'ok' | 'failed' | 'interrupted';
  /** how this VM was backed up; `host` means its checkpoint lived for the whole copy */
  mode?: BackupPolicy['mode'];
  /** the step that failed */
  step?: StepName;
  error?: { code: string; message: string };
  restorePointId?: string;
  consistency?: ConsistencyLevel;
  /** application consistency was asked for and crash consistency was taken */
  fellBack?: boolean;
  /** ms the checkpoint existed: from its creation to its conversion into a reference point (or deletion) */
  checkpointLifetimeMs?: number;
  disks: DiskReport[];
  bytesRead: number;
  bytesWritten: number;
  chunksNew: number;
  chunksReused: number;
  durationMs: number;
}

export interface SetReport {
  index: number;
  vms: string[];
  volumes: string[];
  groups: string[];
  snapshot?: string;
  consistencyGroup: boolean;
  status: 'ok' | 'failed';
  error?: { code: string; message: string; step?: string };
  /** the worker that ran the set, in a distributed batch: `proxy (host:pid)` */
  worker?: string;
}

export interface BackupReport {
  jobId: string;
  startedAt: string;
  durationMs: number;
  /** array snapshot sets taken (one per volume set) */
  snapshotSets: number;
  sets: SetReport[];
  vms: VmReport[];
  /** side effects that could not be undone (kept in the job journal for `hvsnap cleanup`) */
  leftBehind?: string[];
  /** the most work that ran at once, per limit */
  concurrency?: LimitStats;
  totals: { vms: number; ok: number; failed: number; bytesRead: number; bytesWritten: number; chunksNew: number; chunksReused: number };
  ok: boolean;
  /** `interrupted` when the run was cancelled (Ctrl-C, SIGTERM): its sets not started are reported as interrupted VMs */
  status?: 'ok' | 'failed' | 'interrupted';
}
