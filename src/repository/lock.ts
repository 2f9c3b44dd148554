import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { isStale, processStartTicks } from '../core/owner.js';
import { isErrno, writeNew } from './fs-util.js';

/**
 * Repository locks: many writers hold shared locks (`locks/shared-<token>.json`), garbage
 * collection holds the exclusive one (`locks/gc.json`). Each side creates its own file first and
 * then looks for the other kind, so two racing processes can both back off but never both pass.
 * A lock whose owner is gone (dead pid on this host, or a reused pid with another start time) is
 * stale and removed; a lock of another host is always treated as live.
 */

/** What a lock file holds. */
export interface LockOwner {
  kind: 'shared' | 'exclusive';
  token: string;
  pid: number;
  host: string;
  /** process start time in clock ticks since boot (/proc/<pid>/stat field 22), to detect pid reuse */
  startTicks?: string;
  purpose: string;
  since: string;
}

/** A held lock. `release` is idempotent. */
export interface LockHandle {
  readonly owner: LockOwner;
  release(): Promise<void>;
}

/** Tokens of locks this process holds: a lock file with our pid and an unknown token is stale. */
const heldTokens = new Set<string>();
const GC_FILE = 'gc.json';
/** ms after which an unreadable (empty, torn) lock file is considered left by a crash */
const UNREADABLE_STALE_MS = 60_000;

/** True when the owner of a lock may still be running (core's `isStale` decides). */
export async function isOwnerAlive(owner: LockOwner): Promise<boolean> {
  return !(await isStale(owner, heldTokens));
}

async function readOwner(file: string): Promise<LockOwner | 'absent' | 'unreadable'> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockOwner;
  } catch (e) {
    // an empty or half-written file is a lock being created right now
    return isErrno(e, 'ENOENT') ? 'absent' : 'unreadable';
  }
}

function describe(owner: LockOwner): string {
  return `${owner.purpose} (pid ${owner.pid} on ${owner.host}, since ${owner.since})`;
}

export class RepositoryLocks {
  constructor(
    /** the locks folder */
    private readonly dir: string,
    /** the repository root, for messages */
    private readonly repoPath: string,
    private readonly logger: Logger,
  ) {}

  private async newOwner(kind: LockOwner['kind'], purpose: string): Promise<LockOwner> {
    const startTicks = await processStartTicks(process.pid);
    return { kind, token: randomBytes(8).toString('hex'), pid: process.pid, host: hostname(), startTicks, purpose, since: new Date().toISOString() };
  }

  private async create(file: string, owner: LockOwner): Promise<LockHandle> {
    heldTokens.add(owner.token);
    try {
      await writeNew(file, JSON.stringify(owner));
    } catch (e) {
      heldTokens.delete(owner.token);
      if (isErrno(e, 'EEXIST')) throw e;
      throw new HvsnapError('repository_invalid', `cannot create lock file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        cause: e,
        context: { path: this.repoPath, file },
      });
    }
    let released = false;
    return {
      owner,
      release: async () => {
        if (released) return;
        released = true;
        heldTokens.delete(owner.token);
        await unlink(file).catch(() => undefined);
      },
    };
  }

  /** Removes `file` when its owner is gone; returns the live owner otherwise (undefined when none). */
  private async liveOwner(file: string): Promise<LockOwner | 'unreadable' | undefined> {
    const owner = await readOwner(file);
    if (owner === 'absent') return undefined;
    if (owner === 'unreadable') {
      // written by a process that died between creating and filling it, unless it is brand new
      const age = await stat(file).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age < UNREADABLE_STALE_MS) return owner;
    } else if (await isOwnerAlive(owner)) {
      return owner;
    }
    this.logger.warn({ lock: file, ...(owner === 'unreadable' ? {} : { pid: owner.pid, purpose: owner.purpose }) }, 'removing a stale repository lock');
    await unlink(file).catch(() => undefined);
    return undefined;
  }

  /**
   * Takes a shared (writer) lock. Waits while garbage collection holds the exclusive lock, polling
   * every 100 ms; after `timeoutMs` (ms) throws `repository_locked` (retryable) naming the holder.
   */
  async acquireShared(purpose: string, timeoutMs: number): Promise<LockHandle> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const owner = await this.newOwner('shared', purpose);
      const handle = await this.create(join(this.dir, `shared-${owner.token}.json`), owner);
      const gc = await this.liveOwner(join(this.dir, GC_FILE));
      if (gc === undefined) return handle;
      await handle.release();
      if (Date.now() >= deadline) {
        const who = gc === 'unreadable' ? 'another process' : describe(gc);
        throw new HvsnapError('repository_locked', `repository ${this.repoPath} is locked for garbage collection by ${who}`, {
          retryable: true,
          context: { path: this.repoPath, ...(gc === 'unreadable' ? {} : { pid: gc.pid, host: gc.host }) },
          hint: 'wait for the garbage collection to finish, then retry',
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Takes the exclusive (gc) lock, or throws `repository_locked` (retryable) at once naming a live
   * holder: a running gc or a writer. Stale locks found on the way are removed.
   */
  async acquireExclusive(purpose: string): Promise<LockHandle> {
    const file = join(this.dir, GC_FILE);
    let handle: LockHandle | undefined;
    for (let attempt = 0; handle === undefined; attempt++) {
      try {
        handle = await this.create(file, await this.newOwner('exclusive', purpose));
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
        const other = await this.liveOwner(file);
        if (other !== undefined) throw this.lockedBy(other);
        // a stale lock was removed: try again, a few times (another process may race for it)
        if (attempt >= 3) throw this.lockedBy('unreadable');
      }
    }
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith('shared-')) continue;
      const other = await this.liveOwner(join(this.dir, name));
      if (other !== undefined) {
        await handle.release();
        throw this.lockedBy(other);
      }
    }
    return handle;
  }

  private lockedBy(other: LockOwner | 'unreadable'): HvsnapError {
    const who = other === 'unreadable' ? 'another process' : describe(other);
    return new HvsnapError('repository_locked', `repository ${this.repoPath} is in use by ${who}`, {
      retryable: true,
      context: { path: this.repoPath, ...(other === 'unreadable' ? {} : { pid: other.pid, host: other.host }) },
      hint: 'run the command again when that process has finished (`hvsnap prune` collects garbage only while no backup writes and no restore point is mounted: `hvsnap umount DIR`); locks of dead processes are removed automatically',
    });
  }
}
