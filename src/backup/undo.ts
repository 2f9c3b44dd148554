import { HvsnapError } from '../core/errors.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import type { HostHandle, HostSpec, Provider, SnapshotHandle } from '../../providers/sdk/provider.js';
import type { CallOptions } from '../core/types.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import type { Proxy } from '../../proxy/proxy.js';
import type { HostLeases } from './host-leases.js';
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
  /**
   * `created`: made by hvsnap and to be removed (by the last set of the process that uses it, see
   * host-leases.ts); `kept`: made by this run and kept (policy.keepHosts); one found that no set of
   * this process made is never removed. `lease`: the set's lease on it in the process that ran it.
   */
  | { kind: 'removeHost'; host: HostHandle; created: boolean; kept?: boolean; lease?: string }
  /**
   * Journaled before ensureHost makes the proxy's host (and settled once the array answered): a run
   * that ends without the answer cannot tell whether the host the array then has is its own (another
   * set or job on the proxy may have made it at the same moment), so the undo removes nothing and
   * says what to check. `absentBefore`: findHost saw no host for these initiators when the run began.
   */
  | { kind: 'checkHost'; spec: HostSpec; absentBefore: boolean }
  | { kind: 'detach'; presentationName: string }
  | { kind: 'abortRestorePoint'; restorePointId: string };

export interface UndoTargets {
  /** absent where nothing on the host is made (a restore) */
  hypervisor?: Hypervisor;
  provider: Provider;
  proxy: Proxy;
  /** removes an uncommitted restore point (the writer's abort) */
  abortRestorePoint(id: string): Promise<void>;
  /** the proxy's host as the sets of this process share it: a made host goes with its last user */
  hostLeases?: HostLeases;
}

/**
 * What a backup's undos act on: its seams, and its repository, whose `abortRestorePoint` aborts a
 * writer it has open or removes the temporary folder a dead process left: an undo in the running
 * job and a replay after a crash do the same.
 */
export function backupUndoTargets(env: Pick<BackupEnvironment, 'hypervisor' | 'provider' | 'proxy' | 'repository'>, hostLeases?: HostLeases): UndoTargets {
  return {
    hypervisor: env.hypervisor,
    provider: env.provider,
    proxy: env.proxy,
    abortRestorePoint: (id) => env.repository.abortRestorePoint(id),
    ...(hostLeases && { hostLeases }),
  };
}

/**
 * Carries out one undo. Callers pass no job signal: a cancelled job must still clean up; `signal` is
 * the cleanup's own. Returns a note for the operator where the undo could only find out what to
 * check, not undo it (`checkHost`): the caller reports it as left to the operator, not as undone.
 */
export async function runUndo(record: UndoRecord, targets: UndoTargets, signal?: AbortSignal): Promise<string | undefined> {
  const opts = { signal };
  switch (record.kind) {
    case 'deleteCheckpoint':
      await hypervisorOf(targets, record).deleteCheckpoint({ vmId: record.vmId, checkpointId: record.checkpointId }, opts);
      return;
    case 'deleteReferencePoint':
      await hypervisorOf(targets, record).deleteReferencePoint({ vmId: record.vmId, referencePointId: record.referencePointId }, opts);
      return;
    case 'deleteSnapshot':
      await targets.provider.deleteSnapshot({ name: record.name, handle: record.handle }, opts);
      return;
    case 'unpresent':
      await targets.provider.unpresent({ name: record.name }, opts);
      return;
    case 'removeHost': {
      const remove = record.created ? () => removeHostUnlessMapped(targets.provider, record.host, opts) : undefined;
      // another set of this process may still use it: the last one removes it
      if (targets.hostLeases) await targets.hostLeases.release(record, remove);
      else await remove?.();
      return;
    }
    case 'checkHost':
      return unansweredHostNote(targets.provider, { spec: record.spec, absentBefore: record.absentBefore, by: 'a run', holder: "the proxy's" }, opts);
    case 'detach':
      await targets.proxy.detach({ presentationName: record.presentationName }, opts);
      return;
    case 'abortRestorePoint':
      await targets.abortRestorePoint(record.restorePointId);
      return;
  }
}

/**
 * What to tell the operator about a host object the array was asked to make and never answered
 * about (a run's `checkHost`, an instant restore's node host): nothing is removed, since nothing can
 * tell whether the host the array has now was made then or by someone else. Undefined when the
 * array has no such host: it never made it. Only looked up when no host held the initiators before
 * (`absentBefore`) and the provider can look hosts up.
 * @param by who asked the array ("a run", "an instant restore")
 * @param holder whose initiators the host holds ("the proxy's", "HV01's")
 */
export async function unansweredHostNote(
  provider: Provider,
  args: { spec: HostSpec; absentBefore: boolean; by: string; holder: string },
  opts: CallOptions,
): Promise<string | undefined> {
  const advice = 'remove it if nothing else is mapped to it and nobody keeps it on purpose';
  if (!args.absentBefore || !provider.findHost)
    return `check host ${args.spec.name} on the array: ${args.by} ended while the array was making it, and provider "${provider.name}" cannot look hosts up; if hvsnap made it, ${advice}`;
  const host = await provider.findHost({ host: args.spec }, opts);
  if (!host) return; // the array never made it
  return `host ${host.name} (${host.id}) holds ${args.holder} initiators on the array: none did when ${args.by} began making one, and it ended before the array answered; ${advice}`;
}

/** Removes a host hvsnap made; one still mapped (for another set or job, not done with it) stays. True when it is gone. */
export async function removeHostUnlessMapped(provider: Provider, host: HostHandle, opts: CallOptions): Promise<boolean> {
  try {
    await provider.removeHost({ host }, opts);
    return true;
  } catch (e) {
    if (providerErrorKind(e) !== 'wrong_state') throw e;
    return false;
  }
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
    case 'checkHost':
      return `check whether host ${r.spec.name} was made on the array`;
    case 'detach':
      return `detach ${r.presentationName} from the proxy`;
    case 'abortRestorePoint':
      return `remove uncommitted restore point ${r.restorePointId}`;
  }
}
