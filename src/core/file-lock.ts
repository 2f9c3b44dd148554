import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from './errors.js';
import { isStale } from './owner.js';

/**
 * A cross-process lock: a directory created atomically with `mkdir`, holding the owner's pid.
 * A lock whose owner process is gone is taken over. Within one process, callers queue on a
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
    try {
      await mkdir(lockPath);
      await writeFile(join(lockPath, 'owner'), token);
      held.add(token);
      return token;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    await takeOverIfStale(lockPath);
    if (Date.now() > deadline) {
      throw new HvsnapError('locked', `${options.what ?? lockPath} is locked by another process`, {
        retryable: true,
        context: { path: lockPath },
        hint: 'wait for the other hvsnap process to finish; a lock left by a dead process is taken over automatically',
      });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

async function releaseLock(lockPath: string, token: string): Promise<void> {
  held.delete(token);
  await rm(lockPath, { recursive: true, force: true });
}

/**
 * Removes a lock whose owner is gone. Waiters that all saw the same dead owner take turns through
 * a short-lived `.takeover` folder and look again inside it, so a fresh lock is never removed.
 */
async function takeOverIfStale(lockPath: string): Promise<void> {
  const seen = await owner(lockPath);
  if (seen === undefined || !(await isGone(seen))) return;
  const gate = `${lockPath}.takeover`;
  try {
    await mkdir(gate);
  } catch {
    // another waiter is taking over; a gate left by a crash is removed when old
    const st = await stat(gate).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 10_000) await rm(gate, { recursive: true, force: true });
    return;
  }
  try {
    if ((await owner(lockPath)) === seen) await rm(lockPath, { recursive: true, force: true });
  } finally {
    await rm(gate, { recursive: true, force: true });
  }
}

async function owner(lockPath: string): Promise<string | undefined> {
  // an empty file is an owner being written right now (created, not yet filled): read as pid 0 it
  // would look dead, and a second process would take a lock that is held
  const token = await readFile(join(lockPath, 'owner'), 'utf8').catch(() => '');
  if (token !== '') return token;
  // being created right now, or the creator died between mkdir and write: judged by the folder's age
  const st = await stat(lockPath).catch(() => undefined);
  return st && Date.now() - st.mtimeMs > 10_000 ? 'unwritten:0' : undefined;
}

async function isGone(token: string): Promise<boolean> {
  if (token.startsWith('unwritten:')) return true;
  // a lock folder is local to this host: its owner is a pid here
  return isStale({ pid: Number(token.split(':')[0]), host: '', token }, held);
}
