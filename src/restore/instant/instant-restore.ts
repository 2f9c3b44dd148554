import { HvsnapError, errorSummary, isHvsnapError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { silentLogger } from '../../core/logger.js';
import type { ConfigFile, VmInfo } from '../../core/types.js';
import type { Hypervisor } from '../../hyperv/hypervisor.js';
import type { InstantHost } from '../../hyperv/instant-host.js';
import type { Repository } from '../../repository/index.js';
import type { RestorePointManifest, SnapshotDisk } from '../../repository/types.js';
import type { Provider } from '../../../providers/sdk/provider.js';
import { killIfAsked } from '../../backup/run-steps.js';
import type { InstantStepName } from '../../backup/types.js';
import { ensureNodeHost, presentCloneToHost, releaseNodeHost, removeClone } from './array-access.js';
import { onlineCloneDisks } from './online-clone-disks.js';
import {
  deleteSession,
  listSessions,
  loadSession,
  newSessionId,
  recordMadeHost,
  saveSession,
  sessionDir,
  thisOwner,
  type InstantSession,
} from './instant-sessions.js';

/** What instant restore works with: the repository (restore point, configuration, journals), the array, and the host. */
export interface InstantEnv {
  repository: Repository;
  provider: Provider;
  /**
   * What tells the array `provider` talks to from another (openInstantEnvironment: a digest of the
   * job's provider section). Instant restores to one Hyper-V host share a host object one of them
   * had the array make only when it is the same: absent, each removes only the host it made.
   */
  arrayKey?: string;
  hypervisor: Hypervisor;
  /** the host side of instant restore on the named Hyper-V host (cluster node) */
  hostFor(node: string): InstantHost;
  logger?: Logger;
}

export interface InstantRestoreArgs {
  restorePointId: string;
  /** the Hyper-V host (cluster node) the clone is presented to and the VM imported on */
  hostName: string;
  /** a new VM id; default: new when the original VM still exists on the host, else the original id */
  newId?: boolean;
  /** the imported VM's name; default `<VM name>-instant-<time>` */
  name?: string;
  start?: boolean;
  signal?: AbortSignal;
  /**
   * test seam: called right after each journaled side effect (where the crash tests' kill hook
   * strikes); a promise that never settles stands for a process that died there
   */
  afterStep?: (step: InstantStepName) => Promise<void>;
}

/**
 * Instant restore of a snapshot-only restore point: the kept array snapshot is cloned and presented
 * to the Hyper-V host, the host rescans and brings the clone's LUNs online (new signatures where
 * they collide), the VM is imported from the configuration stored in the restore point with its
 * disks on the clone, and optionally started. No byte is copied, so the time does not depend on the
 * disks' size. The original VM and its disks are never touched. Every step is journaled first; a
 * failure undoes what was done, and `cleanupInstant` finishes the job of a process that died (the
 * crash tests kill it after `node-host`, `present`, `online-disk`, `import` or `start` through the runner's
 * `HVSNAP_TEST_KILL_AFTER` hook).
 */
export async function instantRestore(env: InstantEnv, args: InstantRestoreArgs): Promise<InstantSession> {
  const log = env.logger ?? silentLogger;
  const { manifest, kept, disks } = await snapshotOnlyPoint(env, args.restorePointId);
  const { onHost, newId } = await chooseNewId(env, manifest, args);
  const id = newSessionId();
  const name = args.name ?? `${manifest.vm.name}-${id}`;
  if (onHost.some((v) => v.name === name))
    throw new HvsnapError('already_exists', `a VM named "${name}" exists on the host; choose another --name`, { context: { vm: name } });
  const dir = sessionDir(env.repository.path);
  const session: InstantSession = {
    id,
    restorePointId: manifest.id,
    sourceVm: { id: manifest.vm.id, name: manifest.vm.name },
    host: args.hostName,
    createdAt: new Date().toISOString(),
    phase: 'restoring',
    owner: await thisOwner(),
    presentation: { name: `hvsnap-${id}`, snapshotName: kept.name },
    luns: [],
    vm: { name, newId },
    ...(env.arrayKey !== undefined && { array: env.arrayKey }),
  };
  const opts = { signal: args.signal };
  const reached = async (step: InstantStepName) => {
    await args.afterStep?.(step);
    killIfAsked(step);
  };
  // what the array knows the host by, read before anything is made
  const host = env.hostFor(args.hostName);
  const initiators = await host.initiators({}, opts);
  const nodeHost = { name: args.hostName, ...initiators };
  await saveSession(dir, session); // journaled before the host object and the presentation exist
  try {
    await ensureNodeHost(
      env.provider,
      nodeHost,
      async (record) => {
        // known here first (a failed write below still undoes it), then recorded beside the sessions: any later
        // instant restore that finds the host can then remove it last; then journaled
        session.nodeHost = record;
        if (record.handle?.created && session.array !== undefined)
          await recordMadeHost(dir, { array: session.array, host: record.handle, madeBy: id, at: new Date().toISOString() });
        await saveSession(dir, session);
      },
      opts,
    );
    await reached('node-host');
    const clone = await presentCloneToHost(
      env.provider,
      { name: session.presentation!.name, snapshotName: kept.name, handle: kept.handle, host: nodeHost },
      opts,
    );
    await reached('present');
    await host.rescanStorage({}, opts);
    const diskPaths = await onlineCloneDisks(host, clone, disks, kept.name, session, dir, reached, opts);
    const config: ConfigFile[] = [];
    for (const f of manifest.configFiles) config.push({ name: f.replace(/^config\//, ''), data: await env.repository.readConfigFile(manifest.id, f) });
    const vm = await env.hypervisor.importVm({ config, diskPaths, newId, name }, opts);
    session.vm.id = vm.id;
    await saveSession(dir, session);
    await reached('import');
    if (args.start) {
      await host.startVm({ vmId: vm.id }, opts);
      session.vm.started = true;
      await saveSession(dir, session);
      await reached('start');
    }
    session.phase = 'ready';
    await saveSession(dir, session);
    log.info({ instant: id, vm: name, vmId: vm.id, host: args.hostName, restorePoint: manifest.id }, 'instant restore ready: the VM runs from the array clone');
    return session;
  } catch (e) {
    session.phase = 'discarding';
    await saveSession(dir, session).catch(() => undefined);
    await undoSession(env, session).catch((u) =>
      log.error({ instant: id, error: errorSummary(u) }, `could not undo instant restore ${id}; run "hvsnap cleanup"`),
    );
    throw e;
  }
}

/** The snapshot-only restore point to restore instantly, its kept array snapshot (on `env`'s array) and its disks. */
async function snapshotOnlyPoint(
  env: InstantEnv,
  restorePointId: string,
): Promise<{ manifest: RestorePointManifest; kept: RestorePointManifest['arraySnapshots'][number]; disks: SnapshotDisk[] }> {
  const manifest = await env.repository.getRestorePoint(restorePointId);
  const kept = manifest.arraySnapshots.find((s) => s.retained);
  if (manifest.mode !== 'snapshot-only' || !kept || !manifest.snapshotDisks?.length) {
    throw new HvsnapError(
      'input_invalid',
      `restore point ${manifest.id} keeps no array snapshot: instant restore needs a snapshot-only restore point (use "hvsnap restore" or "hvsnap mount")`,
      { context: { restorePoint: manifest.id } },
    );
  }
  if (kept.provider !== env.provider.name) {
    throw new HvsnapError('input_invalid', `restore point ${manifest.id} is kept on array provider "${kept.provider}", not "${env.provider.name}"`, {
      context: { provider: env.provider.name },
    });
  }
  return { manifest, kept, disks: manifest.snapshotDisks };
}

/** The VMs on the host, and whether the VM gets a new id (never the id of a VM that still exists there). */
async function chooseNewId(env: InstantEnv, manifest: RestorePointManifest, args: InstantRestoreArgs): Promise<{ onHost: VmInfo[]; newId: boolean }> {
  const onHost = await env.hypervisor.listVms({});
  const originalExists = onHost.some((v) => v.id === manifest.vm.id);
  const newId = args.newId ?? originalExists;
  if (!newId && originalExists) {
    throw new HvsnapError(
      'already_exists',
      `VM ${manifest.vm.name} (${manifest.vm.id}) exists on the host; an instant restore never replaces it: restore with a new id`,
      { context: { vm: manifest.vm.name } },
    );
  }
  return { onHost, newId };
}

/** The instant restores of this repository, with whether the process that made each still runs. */
export function listInstant(env: Pick<InstantEnv, 'repository'>): ReturnType<typeof listSessions> {
  return listSessions(sessionDir(env.repository.path));
}

/**
 * Keeps the VM: moves its storage to `destinationDir` (production storage, a host path) while it
 * runs, then takes the clone offline, unpresents and deletes it. The move is believed only when the
 * VM's disks read back off the clone; otherwise it throws and the restore is `ready` again, the VM
 * running from the clone, which stays presented (commit again, or discard).
 */
export async function commitInstant(env: InstantEnv, args: { id: string; destinationDir: string; signal?: AbortSignal }): Promise<InstantSession> {
  const dir = sessionDir(env.repository.path);
  const session = await loadSession(dir, args.id);
  requireSameArray(env, session);
  if (session.phase !== 'ready' && session.phase !== 'committing')
    throw new HvsnapError('input_invalid', `instant restore ${session.id} is ${session.phase}, not ready to commit`, { context: { field: 'id' } });
  session.phase = 'committing';
  session.destinationDir = args.destinationDir;
  session.owner = await thisOwner();
  await saveSession(dir, session);
  await finishCommit(env, session, args.signal);
  return session;
}

/** Drops the VM: stops and removes it, takes the clone offline, unpresents and deletes it. */
export async function discardInstant(env: InstantEnv, args: { id: string; signal?: AbortSignal }): Promise<InstantSession> {
  const dir = sessionDir(env.repository.path);
  const session = await loadSession(dir, args.id);
  requireSameArray(env, session);
  session.phase = 'discarding';
  session.owner = await thisOwner();
  await saveSession(dir, session);
  await undoSession(env, session, args.signal);
  return session;
}

/**
 * `hvsnap cleanup`: finishes the instant restores whose process died half-way — one that was
 * restoring or discarding is undone, one that was committing is committed. Ready ones are left:
 * the VM is meant to run until commit or discard.
 */
export async function cleanupInstant(
  env: InstantEnv,
  opts: { signal?: AbortSignal } = {},
): Promise<{ finished: string[]; failures: Array<{ what: string; error: Record<string, unknown> }> }> {
  const finished: string[] = [];
  const failures: Array<{ what: string; error: Record<string, unknown> }> = [];
  for (const s of await listInstant(env)) {
    if (s.ownerAlive || s.phase === 'ready') continue;
    try {
      requireSameArray(env, s);
      const note = s.phase === 'committing' ? await finishCommit(env, s, opts.signal) : await undoSession(env, s, opts.signal);
      finished.push(`${s.id}: ${s.phase === 'committing' ? 'committed' : 'undone'}${note ? `; ${note}` : ''}`);
    } catch (e) {
      failures.push({ what: `instant restore ${s.id}`, error: errorSummary(e) });
    }
  }
  return { finished, failures };
}

/**
 * Refuses a session whose clone is on another array than `env`'s provider reaches (another job
 * configuration's): its VM, clone and host object would be looked for on the wrong array.
 */
function requireSameArray(env: InstantEnv, session: InstantSession): void {
  if (session.array === undefined || env.arrayKey === undefined || session.array === env.arrayKey) return;
  throw new HvsnapError(
    'input_invalid',
    `instant restore ${session.id} was made through another provider configuration than this job's ("${env.provider.name}"): its clone may be on another array`,
    { context: { field: 'id' }, hint: 'run it with the job configuration the instant restore was made with' },
  );
}

/** Returns a note for the operator where the host object cannot be told made or found (see releaseNodeHost). */
async function finishCommit(env: InstantEnv, session: InstantSession, signal?: AbortSignal): Promise<string | undefined> {
  const vm = session.vm.id ? await findVm(env, session.vm.id) : undefined;
  if (!vm)
    throw new HvsnapError('vm_not_found', `the VM of instant restore ${session.id} (${session.vm.name}) is gone; discard it instead`, {
      context: { vm: session.vm.name },
    });
  // a commit that died after the move finds the disks already off the clone
  if (onClone(vm, session)) {
    try {
      await env.hostFor(session.host).moveVmStorage({ vmId: vm.id, destinationDir: session.destinationDir! }, { signal });
      // believed only when read back through the hypervisor: no disk of the VM may stay on the clone that goes next
      const moved = await findVm(env, vm.id);
      if (!moved || onClone(moved, session))
        throw new HvsnapError(
          'vm_invalid_state',
          `VM ${vm.name} of instant restore ${session.id} ${moved ? 'still has disks on the clone' : 'is gone'} after its storage was moved to ${session.destinationDir}`,
          {
            context: { vm: vm.name, path: session.destinationDir },
          },
        );
    } catch (e) {
      // nothing is lost: the VM runs on from the clone, which stays presented; commit again or discard
      session.phase = 'ready';
      await saveSession(sessionDir(env.repository.path), session);
      throw e;
    }
  }
  return releaseClone(env, session, signal);
}

/**
 * Removes what the session made, newest first: the VM (only if its disks are on our clone), the
 * LUNs, the presentation, the host object. Returns a note as {@link releaseClone} does.
 */
async function undoSession(env: InstantEnv, session: InstantSession, signal?: AbortSignal): Promise<string | undefined> {
  const opts = { signal };
  const vm = session.vm.id
    ? await findVm(env, session.vm.id)
    : (await env.hypervisor.listVms({})).find((v) => v.name === session.vm.name && onClone(v, session));
  if (vm) {
    if (!onClone(vm, session))
      throw new HvsnapError('vm_in_use', `VM ${vm.name} of instant restore ${session.id} has disks off the clone (committed?); it is not removed`, {
        context: { vm: vm.name },
      });
    await env.hostFor(session.host).stopVm({ vmId: vm.id }, opts);
    await env.hostFor(session.host).removeVm({ vmId: vm.id }, opts);
  }
  return releaseClone(env, session, signal);
}

/**
 * Takes the clone's LUNs offline, unpresents and deletes the clone, removes the host object the
 * session had the array make, then the journal. Returns (and logs) a note for the operator where
 * the array was asked for the host object and never answered (see releaseNodeHost).
 */
async function releaseClone(env: InstantEnv, session: InstantSession, signal?: AbortSignal): Promise<string | undefined> {
  const log = env.logger ?? silentLogger;
  for (const lun of [...session.luns].reverse()) await env.hostFor(session.host).offlineDisk({ lun }, { signal });
  if (session.presentation) await removeClone(env.provider, { name: session.presentation.name }, { signal });
  const dir = sessionDir(env.repository.path);
  const made = session.array === undefined ? undefined : { dir, array: session.array, session: session.id };
  const note = session.nodeHost && (await releaseNodeHost(env.provider, session.nodeHost, made, { signal }));
  if (note) log.warn({ instant: session.id, host: session.host }, note);
  await deleteSession(dir, session.id);
  log.info({ instant: session.id }, 'instant restore clone released');
  return note;
}

async function findVm(env: InstantEnv, id: string): Promise<VmInfo | undefined> {
  try {
    return (await env.hypervisor.listVms({ names: [id] }))[0];
  } catch (e) {
    if (isHvsnapError(e) && e.code === 'vm_not_found') return undefined;
    throw e;
  }
}

/** Whether any disk of the VM lives on a volume of the session's clone. */
function onClone(vm: VmInfo, session: InstantSession): boolean {
  const roots = session.luns.map((l) => l.volumeRoot?.toLowerCase()).filter((r): r is string => !!r);
  return vm.disks.some((d) => roots.some((r) => d.path.toLowerCase().startsWith(`${r}\\`)));
}
