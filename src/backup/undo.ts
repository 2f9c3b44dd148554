import { HvsnapError } from '../core/errors.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import type { HostHandle, HostSpec, Provider, SnapshotHandle } from '../../providers/sdk/provider.js';
import type { CallOptions } from '../core/types.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import type { Proxy } from '../../proxy/proxy.js';
import type { BackupEnvironment } from './types.js';

/**
 * Compensation as data: every side effect a backup makes is undone by one of these records, so an
 * undo can be journaled before it is needed and replayed by `hvsnap cleanup` after a crash.
 * Every undo MUST be idempotent (the seams guarantee it: deleting what is gone succeeds).
 */
export type UndoRecord =
  | { kind: 'deleteCheckpoint'; vmId: string; vmName: string; checkpointId: string }
  | { kind: 'deleteReferencePoint'; vmId: string; vmName: string; referencePointId: string }
  /** `handle` once createSnapshot answered; before that only the name is known (the create may still have made it) */
  | { kind: 'deleteSnapshot'; name: string; handle?: SnapshotHandle }
  | { kind: 'unpresent'; name: string }
  /** `created`: made by this run and to be removed; `kept`: made by this run and kept (policy.keepHosts); one it found is never removed */
  | { kind: 'removeHost'; host: HostHandle; created: boolean; kept?: boolean }
  /**
   * Journaled before ensureHost makes the proxy's host. `absentBefore`: findHost saw none for these
   * initiators, so one found now is this run's (removed unless `remove` is false: keepHosts);
   * otherwise the provider cannot look hosts up and the undo can only say what to check.
   */
  | { kind: 'removeHostIfMade'; spec: HostSpec; absentBefore: boolean; remove: boolean }
  | { kind: 'detach'; presentationName: string }
  | { kind: 'abortRestorePoint'; restorePointId: string };

export interface UndoTargets {
  /** absent where nothing on the host is made (a restore) */
  hypervisor?: Hypervisor;
  provider: Provider;
  proxy: Proxy;
  /** removes an uncommitted restore point (the writer's abort) */
  abortRestorePoint(id: string): Promise<void>;
}

/**
 * What a backup's undos act on: its seams, and its repository, whose `abortRestorePoint` aborts a
 * writer it has open or removes the temporary folder a dead process left: an undo in the running
 * job and a replay after a crash do the same.
 */
export function backupUndoTargets(env: Pick<BackupEnvironment, 'hypervisor' | 'provider' | 'proxy' | 'repository'>): UndoTargets {
  return { hypervisor: env.hypervisor, provider: env.provider, proxy: env.proxy, abortRestorePoint: (id) => env.repository.abortRestorePoint(id) };
}

/** Carries out one undo. Callers pass no job signal: a cancelled job must still clean up; `signal` is the cleanup's own. */
export async function runUndo(record: UndoRecord, targets: UndoTargets, signal?: AbortSignal): Promise<void> {
  const opts = { signal };
  switch (record.kind) {
    case 'deleteCheckpoint':
      return hypervisorOf(targets, record).deleteCheckpoint({ vmId: record.vmId, checkpointId: record.checkpointId }, opts);
    case 'deleteReferencePoint':
      return hypervisorOf(targets, record).deleteReferencePoint({ vmId: record.vmId, referencePointId: record.referencePointId }, opts);
    case 'deleteSnapshot':
      return targets.provider.deleteSnapshot({ name: record.name, handle: record.handle }, opts);
    case 'unpresent':
      return targets.provider.unpresent({ name: record.name }, opts);
    case 'removeHost':
      if (!record.created) return;
      return removeHostUnlessMapped(targets.provider, record.host, opts);
    case 'removeHostIfMade': {
      if (!record.absentBefore || !record.remove) return;
      if (!targets.provider.findHost)
        throw new HvsnapError('unsupported', `provider "${targets.provider.name}" cannot look host ${record.spec.name} up (findHost) to remove it`);
      const host = await targets.provider.findHost({ host: record.spec }, opts);
      if (host) await removeHostUnlessMapped(targets.provider, host, opts);
      return;
    }
    case 'detach':
      return targets.proxy.detach({ presentationName: record.presentationName }, opts);
    case 'abortRestorePoint':
      return targets.abortRestorePoint(record.restorePointId);
  }
}

/** Removes a host hvsnap made; one still mapped (for another set or job, not done with it) stays. */
async function removeHostUnlessMapped(provider: Provider, host: HostHandle, opts: CallOptions): Promise<void> {
  await provider.removeHost({ host }, opts).catch((e) => {
    if (providerErrorKind(e) !== 'wrong_state') throw e;
  });
}

function hypervisorOf(targets: UndoTargets, record: UndoRecord): Hypervisor {
  if (!targets.hypervisor) throw new HvsnapError('internal', `no hypervisor to ${describeUndo(record)}`);
  return targets.hypervisor;
}

export function describeUndo(r: UndoRecord): string {
  switch (r.kind) {
    case 'deleteCheckpoint':
      return `delete checkpoint ${r.checkpointId} of VM ${r.vmName}`;
    case 'deleteReferencePoint':
      return `delete reference point ${r.referencePointId} of VM ${r.vmName}`;
    case 'deleteSnapshot':
      return `delete array snapshot ${r.name}`;
    case 'unpresent':
      return `unpresent ${r.name}`;
    case 'removeHost':
      if (r.created) return `remove host ${r.host.name} from the array`;
      return r.kept ? `keep host ${r.host.name} (made by hvsnap, kept: proxy.keepHost)` : `keep host ${r.host.name} (not made by hvsnap)`;
    case 'removeHostIfMade':
      if (!r.absentBefore)
        return `check host ${r.spec.name} on the array: a run may have made it and died before it knew (its provider cannot look hosts up); remove it if hvsnap made it and no LUN is mapped to it`;
      return r.remove
        ? `remove host ${r.spec.name} from the array if it is there (made by a run that died making it)`
        : `keep host ${r.spec.name} (made by hvsnap, kept: proxy.keepHost)`;
    case 'detach':
      return `detach ${r.presentationName} from the proxy`;
    case 'abortRestorePoint':
      return `remove uncommitted restore point ${r.restorePointId}`;
  }
}
