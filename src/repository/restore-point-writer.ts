import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HvsnapError, toHvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { encrypt, type RepositoryKeys } from './blob-codec.js';
import { encodeIndex } from './disk-index.js';
import { checkRelativeName, forEachLimit, fsyncPath, isErrno, writeFileSynced } from './fs-util.js';
import { checkManifestInput, MANIFEST_VERSION, sealManifest } from './manifest.js';
import type { PackStore } from './pack-store.js';
import type { DiskIndex, RestorePointManifest } from './types.js';

/** What a writer needs from its repository. */
export interface WriterHost {
  readonly path: string;
  readonly chunkSize: number;
  readonly chunks: PackStore;
  /** set when the repository is encrypted */
  readonly keys: RepositoryKeys | undefined;
  readonly logger: Logger;
  /** `restore-points` folder */
  readonly committedDir: string;
  /** `tmp` folder */
  readonly tmpDir: string;
  /** called once when the writer is committed or aborted */
  writerClosed(writer: RestorePointWriter): Promise<void>;
}

/** The file name of a disk's index inside a restore point: readable, unique, safe for any disk id. */
export function indexFileName(diskId: string): string {
  const slug = diskId.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40);
  return `${slug}-${createHash('sha256').update(diskId).digest('hex').slice(0, 16)}.idx`;
}

/**
 * Builds one restore point in `tmp/<id>/` and publishes it with one rename into
 * `restore-points/<id>/`. Until {@link commit} returns nothing of it is visible; a writer that is
 * aborted, or abandoned by a crash, leaves only its temp folder, which the next gc removes.
 */
export class RestorePointWriter {
  /** the restore point id the manifest will carry */
  readonly id: string;
  private readonly dir: string;
  private readonly indexes = new Map<string, { sha256: string; bytes: number; virtualSize: number; index: DiskIndex }>();
  private readonly configFiles = new Set<string>();
  private readonly dirs = new Set<string>();
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';

  constructor(
    private readonly host: WriterHost,
    readonly args: { jobId: string; vmId: string; vmName: string },
    id: string,
  ) {
    this.id = id;
    this.dir = join(host.tmpDir, id);
  }

  /** Creates the temp folder; called by the repository. An id in use (temporary or committed) is `input_invalid`. */
  async open(): Promise<void> {
    const inUse = () =>
      new HvsnapError('input_invalid', `restore point id ${this.id} is in use already`, { context: { restorePoint: this.id, vm: this.args.vmName } });
    if (
      await stat(join(this.host.committedDir, this.id)).then(
        () => true,
        () => false,
      )
    )
      throw inUse();
    await mkdir(this.dir).catch((e: unknown) => {
      throw isErrno(e, 'EEXIST') ? inUse() : e;
    });
    this.dirs.add(this.dir);
    await mkdir(join(this.dir, 'disks'));
    this.dirs.add(join(this.dir, 'disks'));
  }

  private checkOpen(what: string): void {
    if (this.state !== 'open') {
      throw new HvsnapError('input_invalid', `restore point ${this.id} is already ${this.state}; cannot ${what}`, {
        context: { restorePoint: this.id, vm: this.args.vmName },
      });
    }
  }

  /**
   * Writes (or replaces) the index of disk `diskId` and fsyncs it. Returns the SHA-256 and size
   * (bytes) of the index file, which the caller puts in the manifest's disk entry.
   */
  async writeIndex(diskId: string, index: DiskIndex): Promise<{ sha256: string; bytes: number }> {
    this.checkOpen('write an index');
    if (index.chunkSize !== this.host.chunkSize) {
      throw new HvsnapError('input_invalid', `index of disk ${diskId} uses ${index.chunkSize}-byte chunks; the repository uses ${this.host.chunkSize}`, {
        context: { disk: diskId, field: 'chunkSize', vm: this.args.vmName },
      });
    }
    const buf = encodeIndex(index, `index of disk ${diskId}`);
    await writeFileSynced(join(this.dir, 'disks', indexFileName(diskId)), buf);
    const result = { sha256: createHash('sha256').update(buf).digest('hex'), bytes: buf.length };
    this.indexes.set(diskId, { ...result, virtualSize: index.virtualSize, index });
    return result;
  }

  /** Stores a configuration file of the VM's export; `name` is a relative path with `/` separators. */
  async writeConfigFile(name: string, data: Uint8Array): Promise<void> {
    this.checkOpen('write a configuration file');
    checkRelativeName(name, 'config file name');
    const file = join(this.dir, 'config', name);
    await mkdir(dirname(file), { recursive: true });
    for (let d = dirname(file); d.length > this.dir.length; d = dirname(d)) this.dirs.add(d);
    // encrypted repositories keep the VM's configuration encrypted too (bound to its name)
    await writeFileSynced(file, this.host.keys ? encrypt(this.host.keys.enc, data, Buffer.from(`config:${name}`)) : data);
    this.configFiles.add(name);
  }

  /**
   * Publishes the restore point: checks the manifest against what was written, makes every chunk
   * put so far durable and indexed, checks that every chunk its indexes reference is stored and
   * not known bad (`integrity_failed` otherwise: a restore point never points at a missing or
   * quarantined chunk), writes and fsyncs the manifest with its checksum, then renames the folder into place and
   * fsyncs the parents. Returns the manifest as stored. After a failure the writer stays open:
   * call {@link abort}.
   */
  async commit(manifest: Omit<RestorePointManifest, 'id' | 'formatVersion'>): Promise<RestorePointManifest> {
    this.checkOpen('commit');
    const listed = new Set(manifest.configFiles ?? []);
    const full = checkManifestInput(
      { ...manifest, configFiles: [...new Set([...listed, ...this.configFiles])].sort(), id: this.id, formatVersion: MANIFEST_VERSION },
      this.id,
    );
    this.checkAgainstWritten(full, listed);
    const t0 = Date.now();
    const target = join(this.host.committedDir, this.id);
    this.state = 'committing';
    try {
      await this.host.chunks.flush();
      await this.checkChunksStored(full);
      await writeFileSynced(join(this.dir, 'manifest.json'), sealManifest(full, this.host.keys?.mac));
      await forEachLimit(this.dirs, 8, (d) => fsyncPath(d));
      await rename(this.dir, target);
    } catch (e) {
      this.state = 'open';
      throw toHvsnapError(e, 'repository_invalid', { path: target, restorePoint: this.id });
    }
    this.state = 'committed';
    try {
      // the rename's two folders, independent of each other
      await Promise.all([fsyncPath(this.host.committedDir), fsyncPath(this.host.tmpDir)]);
    } finally {
      await this.host.writerClosed(this);
    }
    this.host.logger.info({ restorePoint: this.id, vm: full.vm.name, disks: full.disks.length, syncMs: Date.now() - t0 }, 'restore point committed');
    return full;
  }

  private async checkChunksStored(m: RestorePointManifest): Promise<void> {
    for (const d of m.disks) {
      const { index } = this.indexes.get(d.diskId)!;
      const unusable = await this.host.chunks.unusable(index.chunks);
      if (unusable.length > 0) {
        throw new HvsnapError(
          'integrity_failed',
          `restore point ${this.id}: ${unusable.length} chunk(s) of disk ${d.diskId} are missing or known bad (first at chunk ${unusable[0]}, offset ${unusable[0] * index.chunkSize}); nothing was committed`,
          {
            context: { restorePoint: this.id, vm: this.args.vmName, disk: d.diskId, offset: unusable[0] * index.chunkSize },
            hint: 'take a full backup of this VM (hvsnap backup --full); its good chunks are written again',
          },
        );
      }
    }
  }

  private checkAgainstWritten(m: RestorePointManifest, listed: Set<string>): void {
    const ctx = { restorePoint: this.id, vm: this.args.vmName };
    for (const [field, got, want] of [
      ['jobId', m.jobId, this.args.jobId],
      ['vm.id', m.vm.id, this.args.vmId],
    ] as const) {
      if (got !== want) {
        throw new HvsnapError('input_invalid', `restore point ${this.id}: manifest field ${field} is ${got}; the writer was begun with ${want}`, {
          context: { ...ctx, field },
        });
      }
    }
    const seen = new Set<string>();
    for (const d of m.disks) {
      const written = this.indexes.get(d.diskId);
      const problem = seen.has(d.diskId)
        ? 'is listed twice'
        : !written
          ? 'has no index written by this writer'
          : written.sha256 !== d.indexSha256
            ? `has indexSha256 ${d.indexSha256} but the index written has ${written.sha256}`
            : written.virtualSize !== d.virtualSize
              ? `has virtualSize ${d.virtualSize} but its index covers ${written.virtualSize} bytes`
              : undefined;
      if (problem) throw new HvsnapError('input_invalid', `restore point ${this.id}: disk ${d.diskId} ${problem}`, { context: { ...ctx, disk: d.diskId } });
      seen.add(d.diskId);
    }
    for (const name of listed) {
      if (!this.configFiles.has(name)) {
        throw new HvsnapError('input_invalid', `restore point ${this.id}: configuration file ${name} is listed but was not written`, {
          context: { ...ctx, file: name },
        });
      }
    }
  }

  /**
   * Removes everything this writer wrote, and only that: a writer whose {@link open} refused the id
   * made no folder and removes none. Idempotent; a no-op after commit (and during one).
   */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    try {
      if (this.dirs.has(this.dir)) await rm(this.dir, { recursive: true, force: true });
    } finally {
      await this.host.writerClosed(this);
    }
  }

  /** open, committing, committed or aborted */
  get status(): 'open' | 'committing' | 'committed' | 'aborted' {
    return this.state;
  }
}
