import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { decrypt, type RepositoryKeys } from './blob-codec.js';
import { chunkId } from './chunk-id.js';
import { codecPool } from './codec-pool.js';
import { checkRelativeName } from './fs-util.js';
import type { RepositoryConfig } from './open-repository.js';
import { PackStore } from './pack-store.js';
import { loadRestorePoint, readDiskIndex, scanRestorePoints, type LoadedRestorePoint, type ScannedRestorePoint } from './restore-point-reader.js';
import type { ChunkId, DiskIndex, RestorePointManifest } from './types.js';

/**
 * The read side of a {@link Repository} (repository.ts): its settings, chunk ids and chunks, and
 * the committed restore points, their disk indexes and configuration files.
 */
export class RepositoryReader {
  /** absolute path of the repository folder */
  readonly path: string;
  /** bytes per chunk (the last chunk of a disk may be shorter) */
  readonly chunkSize: number;
  readonly logger: Logger;
  /** @internal */ readonly chunks: PackStore;
  /** @internal set when the repository is encrypted */ readonly keys: RepositoryKeys | undefined;
  /** the repository's format settings */
  readonly config: RepositoryConfig;
  /** @internal */ readonly committedDir: string;
  /** @internal */ readonly tmpDir: string;

  /** @internal made by the Repository constructor */
  constructor(args: { path: string; config: RepositoryConfig; keys: RepositoryKeys | undefined; logger: Logger }) {
    this.path = args.path;
    this.config = args.config;
    this.chunkSize = args.config.chunkSize;
    this.keys = args.keys;
    this.logger = args.logger.child({ repository: args.path });
    this.chunks = new PackStore(this.path, this.chunkSize, this.keys, this.config.formatVersion, this.logger);
    this.committedDir = join(this.path, 'restore-points');
    this.tmpDir = join(this.path, 'tmp');
  }

  /** True when chunks and configuration are encrypted. */
  get encrypted(): boolean {
    return this.keys !== undefined;
  }

  /**
   * The id of a chunk in this repository: {@link chunkId} with this repository's id key (keyed
   * when encrypted), as {@link putChunk} computes it when not given one.
   */
  chunkId(data: Uint8Array): ChunkId {
    return chunkId(data, this.keys?.mac);
  }

  /** Starts the codec workers now, for a job about to read or write chunks (they start on first use otherwise). */
  warmUp(): void {
    codecPool().warm();
  }

  /**
   * The bytes of a chunk, always hashed again and checked against its id (and its GCM tag when
   * encrypted, or its checksum); `integrity_failed` naming the pack when it is missing, known bad
   * or corrupt — a corrupt copy is quarantined, so the next backup that produces the chunk stores
   * it again. `options` is kept for callers of the v1 API: every read verifies.
   */
  getChunk(id: ChunkId, _options: { verify?: boolean } = {}): Promise<Buffer> {
    return this.chunks.get(id);
  }

  /**
   * The read API for restore, mount and export: {@link getChunk}, but where a blob's GCM tag (an
   * encrypted repository: the tag binds the chunk id) or its checksum (an unencrypted blob of a
   * version 3 repository) vouches for it, the chunk is not hashed again (a restore of the bench's
   * 8 GiB disk then took 27% less user CPU time; see PackStore.openMode); `verify --deep` still hashes every chunk.
   */
  readChunk(id: ChunkId): Promise<Buffer> {
    return this.chunks.get(id, this.chunks.openMode(false));
  }

  /**
   * {@link readChunk} into memory the repository reuses (restore's fast path: no allocation per
   * chunk). `data` is valid until `release()`, which the caller must call once, also on failure paths.
   */
  leaseChunk(id: ChunkId): Promise<{ data: Buffer; release(): void }> {
    return this.chunks.lease(id, this.chunks.openMode(false));
  }

  /**
   * {@link leaseChunk} of each of `ids`: one promise per id, in order, each to be released once
   * (also when a later one fails). Chunks whose blobs lie end to end in a pack, as a backup writes a
   * disk's chunks, are read in one large read; each is still checked on its own.
   */
  leaseChunks(ids: readonly ChunkId[]): Array<Promise<{ data: Buffer; release(): void }>> {
    return this.chunks.leaseRun(ids, this.chunks.openMode(false));
  }

  /** True when the chunk is stored and not known bad. */
  async hasChunk(id: ChunkId): Promise<boolean> {
    return await this.chunks.has(id);
  }

  /** The positions in `ids` (null and `skip` aside) whose chunk is missing or known bad, ascending: {@link hasChunk} for a whole index. */
  unusableChunks(ids: ReadonlyArray<ChunkId | null>, skip?: ReadonlySet<number>): Promise<number[]> {
    return this.chunks.unusable(ids, skip);
  }

  /**
   * One committed restore point to read from (restore, mount, export): its manifest, and readers
   * of its disk indexes (checked against the manifest), chunks (verified) and configuration files.
   * `not_found` when there is none; `integrity_failed` when its manifest fails its checksum.
   */
  async openRestorePoint(id: string): Promise<OpenedRestorePoint> {
    const rp = await this.scanned(id);
    return {
      manifest: rp.manifest,
      disks: rp.manifest.disks,
      readIndex: (diskId) => this.readIndexOf(rp, diskId),
      readChunk: (chunk) => this.readChunk(chunk),
      readConfigFile: (name) => this.readConfigFile(id, name),
    };
  }

  /** @internal every folder under restore-points/, with its manifest or the reason it is unreadable */
  scan(): Promise<ScannedRestorePoint[]> {
    return scanRestorePoints(this.committedDir, this.keys?.mac);
  }

  /**
   * Committed restore points, oldest first (by createdAt, then id). `vm` filters by VM id or name
   * (case-insensitive). Unreadable manifests are skipped with a warning (verify reports them).
   */
  async listRestorePoints(args: { vm?: string } = {}): Promise<RestorePointManifest[]> {
    const vm = args.vm?.toLowerCase();
    const out: RestorePointManifest[] = [];
    for (const rp of await this.scan()) {
      if (!rp.manifest) {
        this.logger.warn({ restorePoint: rp.id, err: rp.error?.message }, 'skipping an unreadable restore point');
        continue;
      }
      if (vm === undefined || rp.manifest.vm.id.toLowerCase() === vm || rp.manifest.vm.name.toLowerCase() === vm) out.push(rp.manifest);
    }
    return out.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  protected scanned(id: string): Promise<LoadedRestorePoint> {
    return loadRestorePoint(this.committedDir, this.path, id, this.keys?.mac);
  }

  /** The manifest of restore point `id`; `not_found` when there is none. */
  async getRestorePoint(id: string): Promise<RestorePointManifest> {
    return (await this.scanned(id)).manifest;
  }

  /** The newest committed restore point of a VM (by VM id), or undefined. */
  async latestRestorePoint(vmId: string): Promise<RestorePointManifest | undefined> {
    return (await this.listRestorePoints()).filter((m) => m.vm.id.toLowerCase() === vmId.toLowerCase()).at(-1);
  }

  /** @internal reads a disk's index and checks it against the manifest */
  readIndexOf(rp: LoadedRestorePoint, diskId: string): Promise<DiskIndex> {
    return readDiskIndex(rp, diskId, this.chunkSize);
  }

  /** The index of disk `diskId` in restore point `restorePointId`, checked against the manifest's SHA-256. */
  async readIndex(restorePointId: string, diskId: string): Promise<DiskIndex> {
    return this.readIndexOf(await this.scanned(restorePointId), diskId);
  }

  /** A configuration file stored with a restore point; `not_found` when it has none of that name. */
  async readConfigFile(restorePointId: string, name: string): Promise<Buffer> {
    checkRelativeName(name, 'config file name');
    const rp = await this.scanned(restorePointId);
    if (!rp.manifest.configFiles.includes(name)) {
      throw new HvsnapError('not_found', `restore point ${restorePointId} has no configuration file ${name}`, {
        context: { restorePoint: restorePointId, file: name },
      });
    }
    const file = join(rp.dir, 'config', name);
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (e) {
      throw new HvsnapError('integrity_failed', `configuration file ${file} is missing or unreadable`, {
        cause: e,
        context: { restorePoint: restorePointId, file },
      });
    }
    if (!this.keys) return data;
    try {
      return decrypt(this.keys.enc, data, Buffer.from(`config:${name}`));
    } catch (e) {
      throw new HvsnapError('integrity_failed', `configuration file ${file} fails authentication (tampered or damaged)`, {
        cause: e,
        context: { restorePoint: restorePointId, file },
      });
    }
  }
}

/** A committed restore point opened for reading: see {@link Repository.openRestorePoint}. */
export interface OpenedRestorePoint {
  manifest: RestorePointManifest;
  disks: RestorePointManifest['disks'];
  /** the disk's chunk index, checked against the manifest */
  readIndex(diskId: string): Promise<DiskIndex>;
  /** a chunk's bytes, verified (decrypted and decompressed) */
  readChunk(id: ChunkId): Promise<Buffer>;
  /** a stored configuration file (decrypted) */
  readConfigFile(name: string): Promise<Buffer>;
}
