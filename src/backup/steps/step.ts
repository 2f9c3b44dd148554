import type { Logger } from '../../core/logger.js';
import type { ByteRange, Checkpoint, ConfigFile, ReferencePoint, VmInfo } from '../../core/types.js';
import type { Limit } from '../../core/concurrency.js';
import type { HostState } from './ensure-host.js';
import type { JobThrottle } from '../job-throttle.js';
import type { RestorePointManifest } from '../../repository/types.js';
import type { Presentation, ArrayVolume, SnapshotHandle } from '../../../providers/sdk/provider.js';
import type { Mount } from '../../../proxy/proxy.js';
import type { VolumeSet } from '../plan.js';
import type { Saga } from '../saga.js';
import type { BackupEnvironment, BackupOptions, BackupPolicy, SetReport, StepName, VmReport } from '../types.js';
import type { UndoRecord } from '../undo.js';

/**
 * A backup step (DESIGN.md, "a mode is a list of steps"): a small object with a name, a scope, the
 * undo of its side effect and when that undo is journaled, and `run`. The runner
 * (`run-steps.ts`) owns everything around it: per-VM vs set-wide failure, the journal, hooks,
 * names and concurrency. A step never catches its own failure to undo it.
 */
export type Step<S = SetRun, V = VmRun> = SetStep<S> | VmStep<S, V>;

/**
 * The undo of a step's side effect. `journaled: 'before'`: written to the journal before `run`,
 * because the side effect can exist even when the call fails or the process dies (a create that
 * times out late); the record then may use only what is known before `run`. `'after'`: written
 * once `run` succeeded, built from what `run` stored (a checkpoint's id).
 */
export interface UndoSpec<A extends unknown[]> {
  journaled: 'before' | 'after';
  /** undefined: nothing to journal for this target (the step has no side effect for it) */
  record(...target: A): UndoRecord | undefined;
  /**
   * With `'before'`: the better record `run` made possible (a snapshot's handle, the array's own ids);
   * the runner journals it, then settles the first one. Undefined keeps the first.
   */
  refine?(...target: A): UndoRecord | undefined;
}

interface StepBase {
  readonly name: StepName;
  /** earlier steps of the same owner (the VM, or the set) whose undos this step's success makes permanent */
  readonly settles?: readonly StepName[];
}

/** A step over the whole set: its failure fails every VM still in the set, and undoes everything. */
export interface SetStep<S = SetRun> extends StepBase {
  readonly scope: 'set';
  readonly undo?: UndoSpec<[S]>;
  run(set: S): Promise<void>;
}

/** Which limit the items of a per-item step share; see {@link VmStep.slots}. */
export type Slots = 'host' | 'copy' | 'repository';

/** A step per VM: its failure undoes that VM's side effects and takes only that VM out of the set. */
export interface VmStep<S = SetRun, V = VmRun> extends StepBase {
  readonly scope: 'vm';
  /**
   * Which limit the VMs share: `host` (`policy.checkpointConcurrency` within the set), `copy` (the
   * proxy's copy slots, shared by every set of the run), `repository` (`policy.copyConcurrency`
   * within the set). Consecutive VM steps with the same slots run as one pipeline per VM.
   */
  readonly slots: Slots;
  readonly undo?: UndoSpec<[S, V]>;
  /** once every VM ran this step: ends the pipeline (the next step waits for all VMs) */
  afterAll?(set: S): Promise<void>;
  run(set: S, vm: V): Promise<void>;
}

/** What the steps of one volume set share (the host steps' part: HostState). Steps read and write it; the runner creates it. */
export interface SetRun extends HostState {
  readonly env: BackupEnvironment;
  readonly policy: BackupPolicy;
  readonly options: BackupOptions;
  readonly jobId: string;
  readonly set: VolumeSet;
  readonly report: SetReport;
  readonly vms: VmRun[];
  readonly saga: Saga;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** the set's volumes with their host path roots (what the mount resolves) */
  readonly volumeRoots: VolumeSet['volumes'];
  /** the names this set gives to what it creates (core/names.ts) */
  readonly names: { checkpoint: string; snapshot: string; presentation: string };
  /** the proxy's copy slots, shared by every set of the run */
  readonly copySlots: Limit;
  /** the job's read-rate cap, shared by every disk copied at once */
  readonly throttle?: JobThrottle;
  /** the array volumes of the set (snapshot) */
  volumes?: ArrayVolume[];
  /** the array's handle of the set's snapshot (snapshot): what present and the manifest use */
  snapshot?: SnapshotHandle;
  /** the snapshot presented to the proxy (present) */
  presentation?: Presentation;
  /** the presentation attached to the proxy (attach) */
  mount?: Mount;
}

/** One VM of a volume set as the steps see it. */
export interface VmRun {
  readonly vm: VmInfo;
  readonly report: VmReport;
  started: number;
  failed: boolean;
  checkpoint?: Checkpoint;
  /** ms timestamp when the checkpoint was created */
  checkpointAt?: number;
  config?: ConfigFile[];
  /** the restore point the changed ranges are relative to, and whose reference point the new one supersedes */
  previous?: RestorePointManifest;
  /** disk id → changed ranges since the previous reference point (absent: full) */
  changes: Record<string, { ranges?: ByteRange[]; fullReason?: string }>;
  referencePoint?: ReferencePoint;
  /** host mode: the VM's node's files, read over SFTP (the set's `mount` otherwise) */
  mount?: Mount;
  /** the id of this attempt's restore point, chosen (and its abort journaled) before the writer opens */
  restorePointId?: string;
  writer?: RestorePointWriter;
  /** the disks copied so far, as the manifest lists them */
  disks: RestorePointManifest['disks'];
}

/** The restore point writer of a VM (what `Repository.beginRestorePoint` returns). */
export type RestorePointWriter = Awaited<ReturnType<BackupEnvironment['repository']['beginRestorePoint']>>;

/** The VMs of the set that have not failed. */
export function liveVms(set: SetRun): VmRun[] {
  return set.vms.filter((v) => !v.failed);
}
