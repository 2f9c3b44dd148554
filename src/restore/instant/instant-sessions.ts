import type { NodeHostRecord } from './array-access.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../../core/errors.js';
import { writeFileAtomic } from '../../repository/fs-util.js';
import { currentOwner, isStale, type Owner } from '../../core/owner.js';
import type { HostLun } from '../../hyperv/instant-host.js';
import type { HostHandle } from '../../../providers/sdk/provider.js';

/**
 * The journal of one instant restore: written before every side effect it records (presentation,
 * each LUN online, the import), so a process that dies leaves enough to undo or finish it.
 */
export interface InstantSession {
  id: string;
  restorePointId: string;
  /** the VM the restore point holds */
  sourceVm: { id: string; name: string };
  /** the Hyper-V host the clone is presented to */
  host: string;
  createdAt: string;
  /** restoring → ready (the VM runs from the clone) → committing / discarding → (record gone) */
  phase: 'restoring' | 'ready' | 'committing' | 'discarding';
  owner: Owner;
  /** the Hyper-V host's object on a SAN array (array-access.ts, ensureNodeHost): removed with the clone when the array made it */
  nodeHost?: NodeHostRecord;
  /** which array the clone is on (InstantEnv.arrayKey): sessions share the hosts an instant restore made only on the same one */
  array?: string;
  /** the array presentation (the clone) */
  presentation?: { name: string; snapshotName: string };
  /** LUNs brought online (or being brought online), with the volume root the host gave each */
  luns: Array<HostLun & { volumeRoot?: string }>;
  /** the name the VM is imported under (unique on the host), and its id once imported */
  vm: { name: string; id?: string; newId: boolean; started?: boolean };
  /** for a commit: the production folder the VM's storage moves to */
  destinationDir?: string;
}

/** The folder of instant restore journals of a repository. */
export function sessionDir(repositoryPath: string): string {
  return join(repositoryPath, '.instant');
}

export function newSessionId(): string {
  return `instant-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
}

/**
 * Writes the session atomically and durably (writeFileAtomic: a temp file of its own, fsynced, renamed,
 * the folder fsynced). It is the journal of side effects about to be made on an array and a host: a
 * power cut after the array presented the clone must not find the session from before it.
 */
export async function saveSession(dir: string, s: InstantSession): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, `${s.id}.json`), dir, JSON.stringify(s, null, 2));
}

export async function deleteSession(dir: string, id: string): Promise<void> {
  await rm(join(dir, `${id}.json`), { force: true });
}

export async function loadSession(dir: string, id: string): Promise<InstantSession> {
  try {
    return JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as InstantSession;
  } catch (e) {
    throw new HvsnapError('not_found', `no instant restore ${id} (see "hvsnap instant list")`, { cause: e, context: { field: 'id' } });
  }
}

export async function listSessions(dir: string): Promise<Array<InstantSession & { ownerAlive: boolean }>> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: Array<InstantSession & { ownerAlive: boolean }> = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    const s = JSON.parse(await readFile(join(dir, n), 'utf8')) as InstantSession;
    out.push({ ...s, ownerAlive: !(await isStale(s.owner)) });
  }
  return out;
}

/** The owner stamp of this process. */
export function thisOwner(): Promise<Owner> {
  return currentOwner();
}

/**
 * A host object an instant restore had the array make for a Hyper-V host. Another instant restore
 * to the same host finds it and uses it (its record says found), so the session that made it cannot
 * remove it while that one's clone is mapped to it: this record, kept beside the sessions, lets the
 * last session on the host remove it (releaseNodeHost). Keyed by the array (InstantEnv.arrayKey),
 * since a host's id is only unique on its array (a Pure host's id is its name).
 */
export interface MadeHost {
  array: string;
  host: HostHandle;
  /** the instant restore that had it made */
  madeBy: string;
  at: string;
}

function madeHostFile(dir: string, array: string, hostId: string): string {
  return join(
    dir,
    'hosts',
    `${createHash('sha256')
      .update(JSON.stringify([array, hostId]))
      .digest('hex')
      .slice(0, 32)}.json`,
  );
}

/** Records a host the array made for session `madeBy` (atomically and durably: repository/fs-util.ts). */
export async function recordMadeHost(dir: string, made: MadeHost): Promise<void> {
  await mkdir(join(dir, 'hosts'), { recursive: true });
  await writeFileAtomic(madeHostFile(dir, made.array, made.host.id), join(dir, 'hosts'), JSON.stringify(made, null, 2));
}

/** The record of host `host` on `array` if an instant restore had the array make it (same id and name), else undefined. */
export async function madeHostOf(dir: string, array: string, host: HostHandle): Promise<MadeHost | undefined> {
  let made: MadeHost;
  try {
    made = JSON.parse(await readFile(madeHostFile(dir, array, host.id), 'utf8')) as MadeHost;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return made.array === array && made.host.id === host.id && made.host.name === host.name ? made : undefined;
}

/** The host session `session` had the array make on `array`, if its record is there (readdir of the records: a killed process may have written no more). */
export async function madeHostBy(dir: string, array: string, session: string): Promise<MadeHost | undefined> {
  const names = await readdir(join(dir, 'hosts')).catch(() => [] as string[]);
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    const made = JSON.parse(await readFile(join(dir, 'hosts', n), 'utf8')) as MadeHost;
    if (made.array === array && made.madeBy === session) return made;
  }
  return undefined;
}

export async function forgetMadeHost(dir: string, array: string, hostId: string): Promise<void> {
  await rm(madeHostFile(dir, array, hostId), { force: true });
}
