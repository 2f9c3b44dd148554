import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HvsnapError } from './errors.js';
import { isStale } from './owner.js';

/**
 * A cross-process lock: a directory holding the owner's record (`<pid>:<token>`). The directory is
 * built complete under a private name and renamed into place, so a lock never exists without its
 * whole record: a rename onto a lock that exists (never empty) fails. A lock whose owner process
 * is gone is taken over; a record that cannot be read or parsed is treated as held, never as dead. Within one process, callers queue on a
 * promise chain so the file system is not polled by waiters of the same process.
 */
const local = new Map<string, Promise<unknown>>();
/** tokens of the locks this process holds: a lock with our pid but another token is a previous incarnation's */
const held = new Set<string>();

export interface FileLockOptions {
  /** ms to wait for the lock before `locked`; default 30 000 */
  timeoutMs?: number;
  /** what is locked, for the error message */
  what?: string;
}

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const previous = local.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = previous.then(() => mine);
  local.set(lockPath, chained);
  await previous.catch(() => undefined);
  try {
    const token = await acquire(lockPath, options);
    try {
      return await fn();
    } finally {
      await releaseLock(lockPath, token);
    }
  } finally {
    release();
    if (local.get(lockPath) === chained) local.delete(lockPath);
  }
}

async function acquire(lockPath: string, options: FileLockOptions): Promise<string> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const token = `${process.pid}:${randomBytes(8).toString('hex')}`;
  let delay = 2;
  for (;;) {
    if (await place(lockPath, token)) {
      held.add(token);
      if ((swept.get(lockPath) ?? 0) < Date.now() - 1000) {
        swept.set(lockPath, Date.now());
        await sweepLockDrafts(lockPath);
      }
      return token;
    }
    const seen = await takeOverIfStale(lockPath);
    if (Date.now() > deadline) {
      const unreadable = seen !== undefined && !parseOwner(seen);
      throw new HvsnapError(
        'locked',
        `${options.what ?? lockPath} is locked by another process${unreadable ? ` (its owner record ${join(lockPath, 'owner')} is unreadable: remove the lock by hand once no hvsnap process runs)` : ''}`,
        {
          retryable: true,
          context: { path: lockPath },
          hint: 'wait for the other hvsnap process to finish; a lock left by a dead process is taken over automatically',
        },
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/** Puts a complete lock (folder and owner record) at `lockPath` in one rename; false when one is there. */
async function place(lockPath: string, token: string): Promise<boolean> {
  const staging = `${lockPath}.new-${token.replace(':', '-')}`;
  await mkdir(staging);
  try {
    await writeFile(join(staging, 'owner'), token);
    await rename(staging, lockPath);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') return false;
    throw e;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** when this process last swept each lock path's drafts (ms; at most once a second) */
const swept = new Map<string, number>();

/**
 * Removes the drafts (`<lock>.new-<pid>-…`) and trash (`<lock>.del-<pid>-…`) of the lock at
 * `lockPath` that processes killed between a mkdir and its rename left behind (those of live
 * processes are theirs and stay); returns their paths. Acquirers sweep at most once a second per
 * process and only once they hold the lock, so a draft a kill leaves may outlive the next few
 * acquisitions: recovery (`hvsnap cleanup`) calls this for every lock it knows, unthrottled.
 */
export async function sweepLockDrafts(lockPath: string): Promise<string[]> {
  const base = basename(lockPath);
  const removed: string[] = [];
  for (const name of await readdir(dirname(lockPath)).catch(() => [] as string[])) {
    if (!name.startsWith(`${base}.new-`) && !name.startsWith(`${base}.del-`)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(base.length + 5))?.[1]);
    if (pid > 0 && (await isStale({ pid, host: '' }))) {
      await rm(join(dirname(lockPath), name), { recursive: true, force: true });
      removed.push(join(dirname(lockPath), name));
    }
  }
  return removed;
}

/** Moves a lock aside in one rename before removing it, so a lock placed meanwhile is never touched. */
async function removeLock(lockPath: string): Promise<void> {
  const trash = `${lockPath}.del-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await rm(trash, { recursive: true, force: true });
}

async function releaseLock(lockPath: string, token: string): Promise<void> {
  held.delete(token);
  await removeLock(lockPath);
}

/**
 * Removes a lock whose owner is gone. Waiters that all saw the same dead owner take turns through
 * a short-lived `.takeover` folder and look again inside it, so a fresh lock is never removed.
 */
async function takeOverIfStale(lockPath: string): Promise<string | undefined> {
  const seen = await owner(lockPath);
  if (seen === undefined || !(await isGone(seen))) return seen;
  const gate = `${lockPath}.takeover`;
  try {
    await mkdir(gate);
  } catch {
    // another waiter is taking over; a gate left by a crash is removed when old
    const st = await stat(gate).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 10_000) await rm(gate, { recursive: true, force: true });
    return seen;
  }
  try {
    if ((await owner(lockPath)) === seen) await removeLock(lockPath);
  } finally {
    await rm(gate, { recursive: true, force: true });
  }
  return seen;
}

/** The owner record as written; undefined when there is no lock; '' when a lock has no readable record. */
async function owner(lockPath: string): Promise<string | undefined> {
  try {
    return await readFile(join(lockPath, 'owner'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !(await stat(lockPath).catch(() => undefined))) return undefined;
    return ''; // a lock whose record is missing or unreadable: held (see parseOwner)
  }
}

function parseOwner(record: string): { pid: number } | undefined {
  const m = /^([1-9][0-9]*):[0-9a-f]+$/.exec(record);
  return m ? { pid: Number(m[1]) } : undefined;
}

/** Whether the owner of a record is gone. An empty, partial or foreign record is held: never taken over. */
async function isGone(record: string): Promise<boolean> {
  const parsed = parseOwner(record);
  if (!parsed) return false;
  // a lock folder is local to this host: its owner is a pid here
  return isStale({ pid: parsed.pid, host: '', token: record }, held);
}
