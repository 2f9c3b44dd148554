import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from './errors.js';

/**
 * A cross-process lock: a directory created atomically with `mkdir`, holding the owner's pid.
 * A lock whose owner process is gone is taken over. Within one process, callers queue on a
 * promise chain so the file system is not polled by waiters of the same process.
 */
const local = new Map<string, Promise<unknown>>();

export interface FileLockOptions {
  /** ms to wait for the lock before `repository_locked`; default 30 000 */
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
    await acquire(lockPath, options);
    try {
      return await fn();
    } finally {
      await rm(lockPath, { recursive: true, force: true });
    }
  } finally {
    release();
    if (local.get(lockPath) === chained) local.delete(lockPath);
  }
}

async function acquire(lockPath: string, options: FileLockOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let delay = 2;
  for (;;) {
    try {
      await mkdir(lockPath);
      await writeFile(join(lockPath, 'owner'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await ownerIsGone(lockPath)) {
      await rm(lockPath, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new HvsnapError('repository_locked', `${options.what ?? lockPath} is locked by another process`, {
        retryable: true,
        context: { path: lockPath },
        hint: 'wait for the other hvsnap process to finish; a lock left by a dead process is taken over automatically',
      });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

async function ownerIsGone(lockPath: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(await readFile(join(lockPath, 'owner'), 'utf8'));
  } catch {
    return false; // being created right now
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
