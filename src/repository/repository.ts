import { randomBytes } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError, isHvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RepositoryKeys } from './blob-codec.js';
import type { RepositoryConfig } from './open-repository.js';
import type { PutChunkResult } from './pack-store.js';
import { repairRepository, type RepairResult } from './repair.js';
import { fsyncPath, isErrno } from './fs-util.js';
import { collectGarbage } from './gc.js';
import { RepositoryLocks, type LockHandle } from './lock.js';
import { isSafeId, newRestorePointId } from './manifest.js';
import { RepositoryReader } from './repository-reader.js';
import { RestorePointWriter, type WriterHost } from './restore-point-writer.js';
import { selectRetention, checkPolicy } from './retention.js';
import type { ChunkId, GcResult, RetentionPolicy, RetentionResult, VerifyReport } from './types.js';
import { verifyRestorePoints } from './verify.js';

export type { OpenedRestorePoint } from './repository-reader.js';

/**
 * A repository on a local folder (format version 2 or 3):
 *
 * ```
 * hvsnap-repository.json     format version, id, chunk size, compression, encryption
 * keys/<name>.json           the master key wrapped by a passphrase (encrypted repositories)
 * packs/<ab>/<name>          pack files: zstd (and AES-256-GCM) blobs plus a trailer listing them
 * index/<name>.idx           chunk id → pack, offset, length; checksummed
 * bad/<chunk>.<pack>         quarantine: copies found bad, never trusted again
 * restore-points/<id>/       manifest.json (checksummed), disks/<disk>.idx, config/<export files>
 * tmp/<id>/                  restore points being written (invisible until renamed)
 * locks/                     shared-<token>.json per writing process, gc.json for gc
 * ```
 *
 * Made by {@link openRepository}. Safe for concurrent use by many writers in one or many
 * processes; gc excludes them by lock. Chunks put are protected from gc from the put until the
 * restore point referencing them commits: begin the writer first, then put its chunks.
 */
export class Repository extends RepositoryReader implements WriterHost {
  private readonly locks: RepositoryLocks;
  private readonly lockTimeoutMs: number;
  private readonly writers = new Set<RestorePointWriter>();
  private shared: Promise<LockHandle> | undefined;
  /** chunks were put while no writer was open: keep the shared lock until a writer adopts them */
  private unattachedPuts = false;
  /** puts and begins in progress: counted before they await the lock, so a release cannot slip in between */
  private busy = 0;

  /** Use {@link openRepository}. */
  constructor(args: { path: string; config: RepositoryConfig; keys: RepositoryKeys | undefined; logger: Logger; lockTimeoutMs: number }) {
    super(args);
    this.locks = new RepositoryLocks(join(this.path, 'locks'), this.path, this.logger);
    this.lockTimeoutMs = args.lockTimeoutMs;
  }

  /** @internal loads the chunk index; called by openRepository */
  load(): Promise<void> {
    return this.chunks.refresh();
  }

  private async holdShared(): Promise<void> {
    if (!this.shared) {
      // another process's gc may have rewritten packs and index files since we last looked
      this.shared = this.locks.acquireShared('backup', this.lockTimeoutMs).then(async (h) => {
        await this.chunks.refresh().catch(async (e: unknown) => {
          await h.release();
          throw e;
        });
        return h;
      });
    }
    try {
      await this.shared;
    } catch (e) {
      this.shared = undefined;
      throw e;
    }
  }

  private async maybeReleaseShared(): Promise<void> {
    if (this.writers.size > 0 || this.busy > 0 || this.unattachedPuts || !this.shared) return;
    const held = this.shared;
    this.shared = undefined;
    await held.then(
      (h) => h.release(),
      () => undefined, // never acquired: nothing to release
    );
  }

  /**
   * Stores a chunk of 1 to chunkSize bytes and returns its id; all-zero data is not stored (id
   * null); a chunk already stored and not known bad is not written again (a known-bad one is
   * written anew: self-healing). `id`, when given, MUST be `this.chunkId(data)` (it saves hashing
   * twice): it is trusted, and the blob's checksum or tag is made under it, so a wrong one is found
   * only by `verify --deep`, which hashes every chunk (a restore checks the checksum or tag). Durable once the next restore point commits. May be called
   * concurrently.
   */
  async putChunk(data: Uint8Array, id?: ChunkId): Promise<PutChunkResult> {
    this.busy++;
    try {
      await this.holdShared();
      if (this.writers.size === 0) this.unattachedPuts = true;
      return await this.chunks.put(data, id);
    } finally {
      this.busy--;
    }
  }

  /**
   * Starts a restore point. Takes this process's shared lock (waits for a running gc up to
   * lockTimeoutMs). The writer MUST end with commit or abort. `id` (from {@link newRestorePointId}):
   * the id to use, for a caller that journals the abort before the temporary folder exists (a crash
   * in between then leaves nothing unjournaled); an id already in use is refused, `input_invalid`.
   */
  async beginRestorePoint(args: { jobId: string; vmId: string; vmName: string; id?: string }): Promise<RestorePointWriter> {
    for (const field of ['jobId', 'vmId', 'vmName'] as const) {
      if (typeof args[field] !== 'string' || args[field].length === 0) {
        throw new HvsnapError('input_invalid', `beginRestorePoint: ${field} must be a non-empty string`, { context: { field } });
      }
    }
    if (args.id !== undefined && !isSafeId(args.id)) {
      throw new HvsnapError('input_invalid', `beginRestorePoint: ${JSON.stringify(args.id)} is not a restore point id`, { context: { field: 'id' } });
    }
    const { id = newRestorePointId(args.vmName), ...owner } = args;
    this.busy++;
    let writer: RestorePointWriter;
    try {
      await this.holdShared();
      writer = new RestorePointWriter(this, owner, id);
      this.writers.add(writer);
      this.unattachedPuts = false;
    } finally {
      this.busy--;
    }
    try {
      await writer.open();
    } catch (e) {
      // removes only a folder this writer made: one that was there already is not its to remove
      await writer.abort();
      if (isHvsnapError(e) && e.code === 'input_invalid') throw e;
      throw new HvsnapError('repository_invalid', `cannot start restore point in ${this.tmpDir}`, {
        cause: e,
        context: { path: this.tmpDir, vm: args.vmName },
      });
    }
    this.logger.debug({ restorePoint: writer.id, vm: args.vmName }, 'restore point begun');
    return writer;
  }

  /**
   * Aborts restore point `id` by id: an open writer of this object is aborted; otherwise the temp
   * folder a crashed process left is removed. A committed restore point is left alone (use
   * deleteRestorePoint). Idempotent; for journals that resume or compensate after a crash.
   */
  async abortRestorePoint(id: string): Promise<void> {
    if (!isSafeId(id)) throw new HvsnapError('input_invalid', `${JSON.stringify(id)} is not a restore point id`, { context: { field: 'id' } });
    const writer = [...this.writers].find((w) => w.id === id);
    if (writer) return writer.abort();
    const committed = await readFile(join(this.committedDir, id, 'manifest.json')).then(
      () => true,
      () => false,
    );
    if (committed) {
      this.logger.info({ restorePoint: id }, 'abort of a committed restore point ignored');
      return;
    }
    await rm(join(this.tmpDir, id), { recursive: true, force: true });
  }

  /** @internal called by a writer when it commits or aborts */
  async writerClosed(writer: RestorePointWriter): Promise<void> {
    this.writers.delete(writer);
    await this.maybeReleaseShared();
  }

  /**
   * Checks one restore point (`id`) or all: see {@link verifyRestorePoints}. Holds a shared lock
   * meanwhile, so gc cannot remove chunks under it. Problems are reported, not thrown; chunks
   * found bad are quarantined.
   */
  async verify(
    args: { id?: string; deep?: boolean; onProgress?: (p: { disk: string; doneBytes: number; totalBytes: number }) => void } = {},
  ): Promise<VerifyReport> {
    const lock = await this.locks.acquireShared('verify', this.lockTimeoutMs);
    try {
      await this.chunks.refresh();
      const points = args.id === undefined ? await this.scan() : [await this.scanned(args.id)];
      const report = await verifyRestorePoints(this, points, args.deep ?? false, args.onProgress);
      this.logger.info({ ok: report.ok, problems: report.problems.length + report.problemsOmitted, restorePoints: report.restorePoints }, 'verify done');
      return report;
    } finally {
      await lock.release();
    }
  }

  /**
   * A shared lock for a reader that outlives one call (`hvsnap mount`): while it is held, gc and
   * repair refuse at once with `repository_locked` naming `purpose` and this process (pid, host),
   * so no pack the reader may still read is deleted or rewritten; writers are not held up. The
   * chunk index is reloaded once the lock is held (a gc may have rewritten packs before). Waits for
   * a running gc up to lockTimeoutMs. Release the handle when done; a holder that dies leaves a
   * lock that the next gc finds stale and removes.
   */
  async lockForReading(purpose: string): Promise<LockHandle> {
    const lock = await this.locks.acquireShared(purpose, this.lockTimeoutMs);
    try {
      await this.chunks.refresh();
    } catch (e) {
      await lock.release();
      throw e;
    }
    return lock;
  }

  /**
   * Deletes a committed restore point (its chunks stay until gc). Returns false when there was
   * none of that id. The folder is first renamed into tmp/, so it vanishes from listings at once.
   */
  async deleteRestorePoint(id: string): Promise<boolean> {
    if (!isSafeId(id)) throw new HvsnapError('input_invalid', `${JSON.stringify(id)} is not a restore point id`, { context: { field: 'id' } });
    const trash = join(this.tmpDir, `deleting-${id}-${randomBytes(3).toString('hex')}`);
    try {
      await rename(join(this.committedDir, id), trash);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw new HvsnapError('repository_invalid', `cannot delete restore point ${id}`, { cause: e, context: { restorePoint: id, path: this.committedDir } });
    }
    await fsyncPath(this.committedDir);
    await rm(trash, { recursive: true, force: true });
    this.logger.info({ restorePoint: id }, 'restore point deleted');
    return true;
  }

  /** Applies a retention policy per VM (optionally one VM, by id or name); with dryRun deletes nothing. */
  async applyRetention(args: RetentionPolicy & { vm?: string; dryRun?: boolean }): Promise<RetentionResult> {
    checkPolicy(args);
    const { kept, deleted } = selectRetention(await this.listRestorePoints({ vm: args.vm }), args);
    if (!args.dryRun) for (const d of deleted) await this.deleteRestorePoint(d.id);
    return { dryRun: args.dryRun ?? false, kept, deleted };
  }

  /**
   * Retention, then garbage collection, under one exclusive lock taken first: while a backup
   * writes or a restore point is mounted or read, `repository_locked` (naming the holder) comes at
   * once and nothing is deleted (retention applied before a refused gc deleted restore points and
   * left their chunks). With `dryRun`, only the plan, without the lock.
   */
  async pruneAndCollect(
    policy: RetentionPolicy & { vm?: string; dryRun?: boolean },
    args: { repackBelow?: number } = {},
  ): Promise<{ retention: RetentionResult; gc?: GcResult }> {
    if (policy.dryRun) return { retention: await this.applyRetention(policy) };
    checkPolicy(policy);
    const lock = await this.locks.acquireExclusive('prune');
    try {
      const retention = await this.applyRetention(policy);
      return { retention, gc: await collectGarbage(this, args.repackBelow) };
    } finally {
      await lock.release();
    }
  }

  /**
   * Garbage collection: deletes chunks no committed restore point references and the temp
   * folders of crashed or aborted writers. A pack is rewritten once its live share falls below
   * `repackBelow` (default {@link REPACK_BELOW}; 1 rewrites every pack holding any garbage). Throws `repository_locked` (retryable) at once when a
   * writer (in any live process, this one included) or another gc is running.
   */
  async gc(args: { repackBelow?: number } = {}): Promise<GcResult> {
    const lock = await this.locks.acquireExclusive('gc');
    try {
      return await collectGarbage(this, args.repackBelow);
    } finally {
      await lock.release();
    }
  }

  /**
   * `verify --repair`: rebuilds the index from the packs' own trailers (a damaged or lost index
   * file is healed), checks every pack (deep), drops copies that fail and quarantine records of
   * vanished packs, and lists the restore points that still reference a chunk no pack holds (a
   * backup of the VM heals those). Exclusive: throws `repository_locked` while a writer runs.
   */
  async repair(): Promise<RepairResult> {
    const lock = await this.locks.acquireExclusive('repair');
    try {
      return await repairRepository(this);
    } finally {
      await lock.release();
    }
  }

  /** Makes every chunk put so far durable (commit does this by itself). */
  flush(): Promise<void> {
    return this.chunks.flush();
  }

  /**
   * Aborts open writers and releases this object's shared lock, so gc can run. The object stays
   * usable: a later put or begin takes the lock again.
   */
  async close(): Promise<void> {
    for (const w of [...this.writers]) await w.abort();
    this.unattachedPuts = false;
    await this.maybeReleaseShared();
    await this.chunks.close();
  }
}
