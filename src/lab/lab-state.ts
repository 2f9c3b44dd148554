import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { withFileLock } from '../core/file-lock.js';
import type { ByteRange, Checkpoint, ReferencePoint, VmGroup, VmInfo } from '../core/types.js';

/**
 * Everything the lab host knows, kept in `<lab>/lab.json` and changed only under the lab lock, so
 * that `hvsnap lab write` in one process and a backup in another see one consistent host.
 */
export interface LabState {
  formatVersion: 1;
  hosts: string[];
  volumes: LabVolume[];
  vms: LabVm[];
  groups: VmGroup[];
  checkpoints: LabCheckpoint[];
  referencePoints: LabReferencePoint[];
  faults: LabFaults;
}

export interface LabVolume {
  name: string;
  /** the volume's folder (the "LUN"), absolute */
  dir: string;
  /** the volume's root as the host shows it, e.g. `C:\ClusterStorage\Volume1` */
  hostRoot: string;
}

/** A VM of the lab host: what the host reports, with disks that carry the lab's own state. */
export interface LabVm extends Omit<VmInfo, 'disks'> {
  disks: LabDisk[];
  /** started by an instant restore; a VM without the flag counts as running (the lab's guests write) */
  running?: boolean;
}

export interface LabDisk {
  /** attachment id, like a SASD InstanceID */
  id: string;
  volume: string;
  /** below the volume root, `/` separators */
  relativePath: string;
  virtualDiskId: string;
  sizeBytes: number;
  rct: LabRct;
  /** while a checkpoint exists: the AVHDX receiving the VM's writes, and what was written to it */
  overlay?: { relativePath: string; ranges: ByteRange[] };
  /** after a convert or delete whose merge was deferred: merged into the base on the next write or settle */
  pendingMerge?: { relativePath: string; ranges: ByteRange[] };
}

/**
 * Resilient change tracking, simulated. Writes are tagged with the disk's current generation.
 * A checkpoint freezes generation g and moves the disk to g+1; the reference point made from it
 * has the RCT id `rctX:<epoch>:<g>`. Changes since that id = ranges tagged in (g, frozen].
 */
export interface LabRct {
  /** a GUID; a reset (e.g. the VHDX edited outside tracking) changes it and invalidates every id */
  epoch: string;
  generation: number;
  changes: Array<{ generation: number; ranges: ByteRange[] }>;
}

export interface LabCheckpoint extends Checkpoint {
  frozenGenerations: Record<string, number>;
}

export type LabReferencePoint = ReferencePoint;

/** Faults a test or a demo can inject into the lab host. */
export interface LabFaults {
  /** VMs (by name) whose guest cannot give application consistency */
  appConsistencyFails: string[];
  /** fail the named operation, optionally only for one VM, `times` times (default once) */
  failures: Array<{ op: LabOp; vm?: string; times?: number; message?: string }>;
}

export type LabOp = 'createCheckpoint' | 'exportConfiguration' | 'changedRanges' | 'convertToReferencePoint' | 'deleteCheckpoint' | 'importVm';

export const LAB_STATE_FILE = 'lab.json';

export function emptyState(): LabState {
  return {
    formatVersion: 1,
    hosts: ['lab-host-1'],
    volumes: [],
    vms: [],
    groups: [],
    checkpoints: [],
    referencePoints: [],
    faults: { appConsistencyFails: [], failures: [] },
  };
}

export function newRct(): LabRct {
  return { epoch: randomUUID(), generation: 1, changes: [] };
}

export async function loadState(dir: string): Promise<LabState> {
  const file = join(dir, LAB_STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new HvsnapError('not_found', `no lab at ${dir} (missing ${LAB_STATE_FILE}); create one with "hvsnap lab init"`, {
      cause: e,
      context: { path: dir, file },
    });
  }
  let state: LabState;
  try {
    state = JSON.parse(text) as LabState;
  } catch (e) {
    throw new HvsnapError('input_invalid', `${file} is not valid JSON: ${(e as Error).message}`, { cause: e, context: { file } });
  }
  if (state.formatVersion !== 1) {
    throw new HvsnapError('input_invalid', `${file}: unknown lab format ${String(state.formatVersion)}`, { context: { file } });
  }
  return state;
}

export async function saveState(dir: string, state: LabState): Promise<void> {
  const file = join(dir, LAB_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  // atomic (rename), not durable: the lab simulates a host, it is no store of record
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, file);
}

/** Reads, changes and saves the lab state under the lab lock. */
export async function updateState<T>(dir: string, fn: (state: LabState) => Promise<T> | T): Promise<T> {
  return withFileLock(
    join(dir, '.lab.lock'),
    async () => {
      const state = await loadState(dir);
      const result = await fn(state);
      await saveState(dir, state);
      return result;
    },
    { what: `the lab at ${dir}` },
  );
}

/** Reads the state under the lab lock without saving. */
export async function readState<T>(dir: string, fn: (state: LabState) => Promise<T> | T): Promise<T> {
  return withFileLock(join(dir, '.lab.lock'), async () => fn(await loadState(dir)), { what: `the lab at ${dir}` });
}

/** Throws the injected failure for `op` if one is armed, consuming it. */
export function takeFault(state: LabState, op: LabOp, vmName: string): HvsnapError | undefined {
  const i = state.faults.failures.findIndex((f) => f.op === op && (!f.vm || f.vm === vmName));
  if (i < 0) return undefined;
  const f = state.faults.failures[i];
  const left = (f.times ?? 1) - 1;
  if (left <= 0) state.faults.failures.splice(i, 1);
  else f.times = left;
  return new HvsnapError('step_failed', f.message ?? `injected lab fault in ${op}`, { context: { vm: vmName, injected: true } });
}
