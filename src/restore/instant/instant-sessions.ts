import type { NodeHostRecord } from './array-access.js';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../../core/errors.js';
import { currentOwner, isStale, type Owner } from '../../core/owner.js';
import type { HostLun } from '../../hyperv/instant-host.js';

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

/** Writes the session atomically (temp file + rename). */
export async function saveSession(dir: string, s: InstantSession): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${s.id}.json`);
  await writeFile(`${file}.tmp`, JSON.stringify(s, null, 2));
  await rename(`${file}.tmp`, file);
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
