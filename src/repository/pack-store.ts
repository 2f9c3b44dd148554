import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError, isHvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RepositoryKeys } from './blob-codec.js';
import { codecPool, SEAL_OVERHEAD, SharedBuffers, type OpenMode } from './codec-pool.js';
import { chunkId } from './chunk-id.js';
import { ChunkIndex, type ChunkLocation } from './chunk-index.js';
import { forEachLimit, fsyncPath, isErrno, writeFileSynced } from './fs-util.js';
import { isAllZero } from '../core/zero.js';
import { checkChunkId, isChunkId } from './hash.js';
import { encodeIndexFile, loadIndexFile } from './index-file.js';
import { PackQuarantine, readdirOrEmpty } from './pack-quarantine.js';
import { copyStoredChunk, leaseChunkCopy, leaseChunkRun, READ_RUN_BYTES, READ_RUN_SLACK, readChunkCopy, type ChunkLease } from './pack-chunk-read.js';
import type { PackFormat, PackVersion } from './pack-format.js';
import { PackReadCache } from './pack-read-cache.js';
import { PackWriter, type SealedPack } from './pack-writer.js';
import type { ChunkId } from './types.js';

/** Packs {@link PackStore.unusable} sizes at once. */
const PACK_STATS_AT_ONCE = 16;

/**
 * Chunk memory kept for reuse (at least 64 buffers): room for a restore's read-ahead (32 MiB,
 * READ_AHEAD_BYTES in restore/restore-disk.ts) with the chunks being written and checked besides.
 * A buffer taken beyond it is made fresh and dropped after use, and fresh memory costs page faults
 * on every use (see SharedBuffers).
 */
const KEPT_BUFFER_BYTES = 64 << 20;

/** What {@link PackStore.put} did. */
export interface PutChunkResult {
  /** the chunk's id, or null for an all-zero chunk (never stored) */
  id: ChunkId | null;
  /** true when this call stored the chunk; false for zeros and for chunks already stored and sound */
  written: boolean;
  /** bytes this call appended to a pack (0 unless `written`; compressed size) */
  bytesWritten: number;
}

/**
 * The chunks of a repository of version 2 or 3: blobs in pack files (`packs/<ab>/<name>`), located through an
 * in-memory {@link ChunkIndex} loaded from `index/*.idx`. Chunks found bad on a read or by verify
 * are recorded under `bad/<chunk id>.<pack>` (quarantine): the copy is never trusted again, and the
 * next put of that chunk stores a good copy elsewhere (self-healing).
 *
 * Durability: puts append to an open pack; {@link flush} seals it, fsyncs the packs and then
 * writes the index file naming them, so an index entry never names a chunk that is not durable.
 */
export class PackStore {
  index = new ChunkIndex();
  private readonly quarantine: PackQuarantine;
  private readonly reads = new PackReadCache();
  /** shared memory for blobs being sealed and chunks being read: faulted in once, reused */
  private readonly buffers: SharedBuffers;
  /** shared memory for {@link leaseRun}'s reads of end-to-end blobs: {@link KEPT_BUFFER_BYTES} of it kept */
  private readonly runBuffers = new SharedBuffers(READ_RUN_BYTES + READ_RUN_SLACK, KEPT_BUFFER_BYTES / READ_RUN_BYTES);
  private readonly loadedIndexFiles = new Set<string>();
  /** index files that failed their checksum at the last load */
  damagedIndexFiles: string[] = [];
  private readonly writer: PackWriter;
  private readonly inFlight = new Map<ChunkId, Promise<void>>();
  /** share of recent puts (a moving average, 1/8 per put) whose chunk was stored already */
  private storedShare = 0;
  private sealed: SealedPack[] = [];
  private flushing: Promise<void> = Promise.resolve();
  /** sizes (bytes; -1 = missing) of sealed packs, as {@link has} found them */
  private readonly packSizes = new Map<string, number>();
  readonly packsDir: string;
  readonly indexDir: string;
  readonly badDir: string;
  /** the version and checksum key of this repository's packs */
  readonly format: PackFormat;

  constructor(
    /** the repository folder */
    readonly root: string,
    /** bytes */
    readonly chunkSize: number,
    readonly keys: RepositoryKeys | undefined,
    /** the repository's format version: its packs' version */
    version: PackVersion,
    private readonly logger: Logger,
  ) {
    this.packsDir = join(root, 'packs');
    this.indexDir = join(root, 'index');
    this.badDir = join(root, 'bad');
    this.format = { version, macKey: keys?.mac };
    this.quarantine = new PackQuarantine(this.badDir, logger);
    this.writer = new PackWriter(this.packsDir, this.format, (p) => this.sealed.push(p));
    this.buffers = new SharedBuffers(chunkSize + SEAL_OVERHEAD, Math.max(64, Math.ceil(KEPT_BUFFER_BYTES / chunkSize)));
  }

  /**
   * How this store's blobs are opened: with `ids`, every chunk is hashed again and compared with
   * its id (verify --deep, gc); without, a blob's GCM tag or checksum is its check where it has one
   * (restore, export, mount). See OpenMode.
   */
  openMode(ids: boolean): OpenMode {
    return { crc: this.crcs, ids };
  }

  /** Whether an unencrypted blob ends in its checksum: packs of version 3. */
  private get crcs(): boolean {
    return this.format.version >= 3;
  }

  /** The id of `data` in this repository (keyed when encrypted). */
  idOf(data: Uint8Array): ChunkId {
    return chunkId(data, this.keys?.mac);
  }

  /** The file of pack `name`. */
  packPath(name: string): string {
    return join(this.packsDir, name.slice(0, 2), name);
  }

  /**
   * Loads quarantine records and every index file not loaded yet; when one loaded before is gone
   * (gc consolidated them) the index is rebuilt from scratch. A damaged index file is skipped and
   * listed in {@link damagedIndexFiles}: its chunks look missing until repaired or put again.
   */
  async refresh(): Promise<void> {
    await this.quarantine.load();
    const names = (await readdirOrEmpty(this.indexDir)).filter((n) => n.endsWith('.idx')).sort();
    if ([...this.loadedIndexFiles].some((n) => !names.includes(n))) {
      this.index = new ChunkIndex();
      this.loadedIndexFiles.clear();
      this.writer.reindex(this.index);
    }
    this.damagedIndexFiles = [];
    for (const name of names) {
      if (this.loadedIndexFiles.has(name)) continue;
      const file = join(this.indexDir, name);
      try {
        loadIndexFile(await readFile(file), file, this.keys?.mac, this.index, (pack, id) => this.isBad(id.toString('hex'), pack));
        this.loadedIndexFiles.add(name);
      } catch (e) {
        if (!isHvsnapError(e) || e.code !== 'integrity_failed') throw e;
        this.damagedIndexFiles.push(file);
        this.logger.warn({ file, err: e.message }, 'damaged index file skipped; run verify --repair');
      }
    }
  }

  /** True when the copy of `id` in pack `pack` is known bad. */
  isBad(id: ChunkId, pack: string): boolean {
    return this.quarantine.isBad(id, pack);
  }

  /** Where `id` is stored, when it is and that copy is not known bad. */
  locate(id: ChunkId): (ChunkLocation & { packName: string }) | undefined {
    const loc = this.index.get(id);
    if (!loc) return undefined;
    const packName = this.index.packs[loc.pack];
    return this.isBad(id, packName) ? undefined : Object.assign(loc, { packName });
  }

  /**
   * True when chunk `id` is stored and usable: indexed, not known bad, and in a pack that exists
   * and is long enough to hold it (checked once per pack). A copy found missing that way is
   * quarantined, so the next put stores it again.
   */
  async has(id: ChunkId): Promise<boolean> {
    const loc = this.locate(checkChunkId(id));
    if (!loc) return false;
    if (this.knownUsable(loc)) return true;
    const size = await this.sizePack(loc.packName);
    if (size >= loc.offset + loc.length) return true;
    await this.markBad(id, loc.packName, size < 0 ? 'pack missing' : `pack truncated to ${size} bytes`);
    return false;
  }

  /** The size of sealed pack `name` in bytes (-1 when missing), found once and remembered. */
  private async sizePack(name: string): Promise<number> {
    let size = this.packSizes.get(name);
    if (size === undefined) {
      try {
        size = (await stat(this.packPath(name))).size;
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
        size = -1;
      }
      this.packSizes.set(name, size);
    }
    return size;
  }

  /** True when the copy at `loc` is known usable without I/O: in the open pack, or in a pack already sized and long enough. */
  private knownUsable(loc: { packName: string; offset: number; length: number }): boolean {
    if (this.writer.isOpen(loc.packName)) return true;
    return (this.packSizes.get(loc.packName) ?? -1) >= loc.offset + loc.length;
  }

  /**
   * The positions in `ids` (null entries and those in `skip` aside) whose chunk {@link has} denies,
   * ascending. A chunk in the open pack, or in a pack already sized and long enough, is settled at
   * once. The packs of the rest are sized first, {@link PACK_STATS_AT_ONCE} at a time (a new
   * process meets every pack of a restore point: a `stat` each, not one after another); then each
   * of those chunks is looked up again, since a read may have quarantined it meanwhile, and settled
   * through {@link has}, which quarantines a copy its pack is too short for. An id that is not 64
   * lowercase hex digits is `input_invalid` naming its position. An incremental checks every chunk
   * of the previous restore point before its first read, and a commit every chunk it references
   * (16,000 for a 4 GiB disk).
   */
  async unusable(ids: ReadonlyArray<ChunkId | null>, skip?: ReadonlySet<number>): Promise<number[]> {
    const out: number[] = [];
    const unsettled: number[] = [];
    const unsized = new Set<string>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === null || skip?.has(i)) continue;
      const loc = this.locate(isChunkId(id) ? id : checkChunkId(id, `chunk ${i}`));
      if (!loc) out.push(i);
      else if (!this.knownUsable(loc)) {
        unsettled.push(i);
        if (!this.packSizes.has(loc.packName)) unsized.add(loc.packName);
      }
    }
    await forEachLimit(unsized, PACK_STATS_AT_ONCE, async (name) => void (await this.sizePack(name)));
    // has() alone would settle each chunk too, but with an id check and a wait per chunk: only a copy its pack is too short for goes there
    for (const i of unsettled) {
      const loc = this.locate(ids[i]!);
      if (!loc || (!this.knownUsable(loc) && !(await this.has(ids[i]!)))) out.push(i);
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Stores one chunk (1 byte to chunkSize bytes). See {@link PutChunkResult}. Without `id`, the id
   * is computed on the codec pool, and while most recent puts were new chunks the chunk is sealed
   * in the same task (one trip to a worker instead of two; the sealing is wasted when the chunk
   * turns out to be stored already, so a run of stored chunks turns this off).
   */
  async put(data: Uint8Array, id?: ChunkId): Promise<PutChunkResult> {
    if (data.byteLength === 0 || data.byteLength > this.chunkSize) {
      throw new HvsnapError('input_invalid', `a chunk must hold 1 to ${this.chunkSize} bytes, got ${data.byteLength}`, { context: { field: 'data' } });
    }
    if (isAllZero(data)) return { id: null, written: false, bytesWritten: 0 };
    const out = this.buffers.take(data.byteLength + SEAL_OVERHEAD);
    try {
      let cid: ChunkId;
      let sealed: { length: number; compressed: boolean } | undefined;
      if (id !== undefined) cid = checkChunkId(id, 'id');
      else if (this.storedShare > 0.5) cid = await codecPool().id(data, this.keys?.mac);
      else ({ id: cid, ...sealed } = await codecPool().idSeal(data, out, this.keys, this.crcs));
      for (;;) {
        if (await this.has(cid)) {
          this.storedShare = this.storedShare * 0.875 + 0.125;
          return { id: cid, written: false, bytesWritten: 0 };
        }
        const other = this.inFlight.get(cid);
        if (!other) break;
        await other.catch(() => undefined);
      }
      this.storedShare *= 0.875;
      let done!: () => void;
      this.inFlight.set(cid, new Promise<void>((r) => (done = r)));
      try {
        // sealed on the codec pool into shared memory; the writer copies it into its staging buffer
        sealed ??= await codecPool().seal(data, out, cid, this.keys?.enc, this.crcs);
        const loc = await this.writer.append(cid, { stored: out.subarray(0, sealed.length), compressed: sealed.compressed }, data.byteLength, this.index);
        return { id: cid, written: true, bytesWritten: loc.length };
      } finally {
        this.inFlight.delete(cid);
        done();
      }
    } finally {
      this.buffers.give(out);
    }
  }

  /**
   * The bytes of chunk `id`, always checked (tag or checksum, length; the id as `mode` says, by
   * default hashed again). Missing, known bad, or failing the check: `integrity_failed` naming the
   * pack; a copy that fails is quarantined first.
   */
  async get(id: ChunkId, mode = this.openMode(true)): Promise<Buffer> {
    return readChunkCopy({ store: this, writer: this.writer, reads: this.reads, mode }, id);
  }

  /**
   * {@link get} into the store's reused shared memory (the fast path of restore: no fresh
   * allocation per chunk). The chunk is valid until `release()`, which must be called once.
   */
  async lease(id: ChunkId, mode = this.openMode(true)): Promise<ChunkLease> {
    return leaseChunkCopy({ store: this, writer: this.writer, reads: this.reads, buffers: this.buffers, mode }, id);
  }

  /**
   * {@link lease} of each of `ids` (one promise each, in order), reading blobs that lie end to end
   * in a pack together, in reads of up to READ_RUN_BYTES (see leaseChunkRun): a restore asks for a
   * disk's chunks in order, and a backup wrote them in that order.
   */
  leaseRun(ids: readonly ChunkId[], mode = this.openMode(true)): Array<Promise<ChunkLease>> {
    return leaseChunkRun({ store: this, writer: this.writer, reads: this.reads, buffers: this.buffers, runBuffers: this.runBuffers, mode }, ids);
  }

  /**
   * Copies chunk `id`'s stored blob, checked first, into the open pack (gc's repacking: no
   * recompression); the index then points at the copy. False, and the copy quarantined, when it
   * fails its check or is missing; throws when the check itself could not run.
   */
  async copyStored(id: ChunkId): Promise<boolean> {
    return copyStoredChunk({ store: this, writer: this.writer, reads: this.reads, mode: this.openMode(true) }, id);
  }

  /** Records that the copy of `id` in pack `pack` is bad (durably), so no backup trusts it again. */
  markBad(id: ChunkId, pack: string, reason: string): Promise<void> {
    return this.quarantine.markBad(id, pack, reason);
  }

  /** Removes the quarantine records of packs that no longer exist (gc). */
  forgetBad(packs: Set<string>): Promise<void> {
    return this.quarantine.forgetBad(packs);
  }

  /** Every quarantined copy: chunk id and pack. */
  badCopies(): Array<{ id: ChunkId; pack: string }> {
    return this.quarantine.badCopies();
  }

  /**
   * Makes every chunk put so far durable and indexed: seals the open pack, waits for the packs'
   * fsyncs, writes one index file for the packs sealed since the last flush (temp → fsync →
   * rename → fsync of the folder). Flushes run one after another.
   */
  flush(): Promise<void> {
    const run = async (): Promise<void> => {
      await this.writer.sealOpen();
      await this.writer.synced();
      const packs = this.sealed;
      if (packs.length === 0) return;
      this.sealed = [];
      try {
        const name = `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}.idx`;
        await this.writeIndexFile(name, packs);
      } catch (e) {
        this.sealed.unshift(...packs);
        throw toStoreError(e, 'write an index file in', this.indexDir);
      }
      this.logger.debug({ packs: packs.length, chunks: packs.reduce((n, p) => n + p.entries.length, 0) }, 'packs indexed');
    };
    const next = this.flushing.then(run, run);
    this.flushing = next.catch(() => undefined);
    return next;
  }

  /** Writes index file `name` for `packs` durably and marks it loaded. */
  async writeIndexFile(name: string, packs: readonly SealedPack[]): Promise<void> {
    await mkdir(this.indexDir, { recursive: true });
    const tmp = join(this.indexDir, `.${name}.tmp`);
    await writeFileSynced(tmp, encodeIndexFile(packs, this.keys?.mac));
    await rename(tmp, join(this.indexDir, name));
    await fsyncPath(this.indexDir);
    this.loadedIndexFiles.add(name);
  }

  /**
   * Forgets every chunk not yet indexed on disk (the open pack and packs sealed since the last
   * flush) and reloads the index from the index files. Only for gc and repair, under the
   * exclusive lock: then no restore point can come to reference those chunks. Returns how many
   * chunks were forgotten; their pack files are left for gc.
   */
  async reset(): Promise<number> {
    const open = await this.writer.discardOpen();
    await this.writer.synced().catch(() => undefined);
    const forgotten = open.length + this.sealed.reduce((n, p) => n + p.entries.length, 0);
    this.sealed = [];
    this.index = new ChunkIndex();
    this.loadedIndexFiles.clear();
    await this.close();
    this.packSizes.clear();
    await this.refresh();
    return forgotten;
  }

  /** Names of the index files loaded. */
  indexFiles(): string[] {
    return [...this.loadedIndexFiles];
  }

  /** Every pack file present: name and path (temp files of crashed writers included, with name undefined). */
  async packFiles(): Promise<Array<{ name: string | undefined; path: string }>> {
    const out: Array<{ name: string | undefined; path: string }> = [];
    for (const a of await readdirOrEmpty(this.packsDir)) {
      for (const n of await readdirOrEmpty(join(this.packsDir, a)))
        out.push({ name: /^[0-9a-f]{32}$/.test(n) ? n : undefined, path: join(this.packsDir, a, n) });
    }
    return out;
  }

  /** Closes cached read handles and the open pack (its chunks stay unindexed until flushed). */
  async close(): Promise<void> {
    await this.reads.close();
  }

  /** Size in bytes of a file (0 when it vanished). */
  sizeOf(path: string): Promise<number> {
    return stat(path).then(
      (s) => s.size,
      () => 0,
    );
  }
}

function toStoreError(e: unknown, what: string, file: string): HvsnapError {
  if (isHvsnapError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new HvsnapError('repository_invalid', `cannot ${what} ${file}: ${code}`, {
    cause: e,
    context: { file },
    retryable: code === 'EAGAIN' || code === 'EBUSY',
  });
}
