import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { allocAlignedBuffer, DIRECT_ALIGN, openDirectWrites, writeFully, type DirectWrites } from '../core/direct-io.js';
import type { SealedBlob } from './blob-codec.js';
import type { ChunkIndex } from './chunk-index.js';
import { fsyncPath } from './fs-util.js';
import { infoOf, packHeader, packTrailer, type PackEntry, type PackFormat } from './pack-format.js';
import type { ChunkId } from './types.js';

/** A pack that is complete on disk (its fsync may still run): what the next index file lists. */
export interface SealedPack {
  name: string;
  entries: PackEntry[];
}

/** A pack is sealed once it holds this many bytes ("tens of MiB": few files, cheap to rewrite in gc). */
export const PACK_TARGET_BYTES = 32 * 1024 * 1024;
/** Appended blobs are copied into a staging buffer of this many bytes and written when it is full: one large write per batch. */
const WRITE_BATCH_BYTES = 8 * 1024 * 1024;

const fsOpen = promisify(fs.open);
const fsFsync = promisify(fs.fsync);
const fsClose = promisify(fs.close);

interface OpenPack {
  name: string;
  number: number;
  fd: number;
  /** writes of whole pages past the page cache (the rest through `fd`) */
  direct: DirectWrites;
  /** bytes appended so far (header included) */
  size: number;
  /** bytes on disk, or being written, so far (a multiple of a page until sealed); the staging buffer holds the bytes from here to `size` */
  written: number;
  entries: PackEntry[];
}

/**
 * Appends blobs to one open pack at a time, in large sequential writes, and seals it (trailer,
 * then an fsync started in the background) at {@link PACK_TARGET_BYTES} or when asked. Appends are
 * serialized; every chunk's index entry is set as it is appended, so a concurrent put of the same
 * chunk finds it.
 */
export class PackWriter {
  private open: OpenPack | undefined;
  /** packs being sealed: their last bytes are still being written */
  private readonly sealing = new Set<string>();
  /** appended bytes not yet written (the blobs are copied: callers reuse their buffers), made on first use */
  private stage: Buffer | undefined;
  /** the other staging buffer: the one being written while `stage` fills (double buffering), made on first use */
  private spare: Buffer | undefined;
  /** the write of the spare buffer's whole pages: in flight, or failed (no promise) and to be made again */
  private pending: { pack: OpenPack; at: number; length: number; promise?: Promise<void> } | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private syncs: Array<Promise<void>> = [];
  private readonly dirtyDirs = new Set<string>();

  constructor(
    private readonly packsDir: string,
    private readonly format: PackFormat,
    private readonly onSealed: (pack: SealedPack) => void,
  ) {}

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Appends a blob for chunk `id` of `rawLength` bytes and records its location in `index`. The
   * blob's bytes are copied before the returned promise settles: the caller may reuse its buffer.
   */
  append(id: ChunkId, blob: SealedBlob, rawLength: number, index: ChunkIndex): Promise<{ length: number }> {
    return this.enqueue(async () => {
      const pack = this.open ?? (await this.start(index));
      const entry: PackEntry = { id, offset: pack.size, length: blob.stored.length, rawLength, compressed: blob.compressed };
      await this.put(pack, blob.stored);
      pack.entries.push(entry);
      index.set(id, { pack: pack.number, offset: entry.offset, length: entry.length, info: infoOf(rawLength, blob.compressed) });
      if (pack.size >= PACK_TARGET_BYTES) await this.seal(pack);
      return { length: entry.length };
    });
  }

  /** Copies `bytes` to the end of `pack` (into the staging buffer; written when it is full). */
  private async put(pack: OpenPack, bytes: Uint8Array): Promise<void> {
    this.stage ??= allocAlignedBuffer(WRITE_BATCH_BYTES);
    if (pack.size - pack.written + bytes.byteLength > WRITE_BATCH_BYTES) await this.writeBuffered(pack, false);
    if (pack.size - pack.written + bytes.byteLength > WRITE_BATCH_BYTES) {
      // larger than the staging buffer: written from the caller's memory, after what is staged (later
      // writes of this pack start off a page boundary, so they go through the page cache)
      await this.writeBuffered(pack, true);
      pack.written = pack.size;
      await writeFully(pack.fd, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), pack.written);
      pack.written += bytes.byteLength;
    } else this.stage.set(bytes, pack.size - pack.written);
    pack.size += bytes.byteLength;
  }

  /** After the index was rebuilt: puts the open pack's chunks back into it. */
  reindex(index: ChunkIndex): void {
    const pack = this.open;
    if (!pack) return;
    pack.number = index.packNumber(pack.name);
    for (const e of pack.entries) index.set(e.id, { pack: pack.number, offset: e.offset, length: e.length, info: infoOf(e.rawLength, e.compressed) });
  }

  /** True when `name` is the pack being written (its file is shorter than its chunks until sealed). */
  isOpen(name: string): boolean {
    return this.open?.name === name || this.sealing.has(name);
  }

  /** Writes out what is buffered of pack `name` when it is the open one, so it can be read. */
  drain(name: string): Promise<void> {
    if (this.open?.name !== name && !this.sealing.has(name)) return Promise.resolve();
    return this.enqueue(async () => {
      if (this.open?.name === name) await this.writeBuffered(this.open, true);
    });
  }

  /** Seals the open pack, if any. */
  sealOpen(): Promise<void> {
    return this.enqueue(async () => {
      if (this.open) await this.seal(this.open);
    });
  }

  /**
   * Abandons the open pack (gc, holding the exclusive lock, knows it holds only chunks no restore
   * point will reference): closes it and returns its chunks; the file is left for gc to delete.
   */
  discardOpen(): Promise<PackEntry[]> {
    return this.enqueue(async () => {
      const pack = this.open;
      if (!pack) return [];
      this.open = undefined;
      await this.pending?.promise?.catch(() => undefined);
      this.pending = undefined;
      await pack.direct.close();
      await fsClose(pack.fd);
      return pack.entries;
    });
  }

  /** Waits for the fsync of every sealed pack and of the folders that gained one. */
  async synced(): Promise<void> {
    const syncs = this.syncs;
    this.syncs = [];
    await Promise.all(syncs);
    const dirs = [...this.dirtyDirs];
    this.dirtyDirs.clear();
    for (const d of dirs) await fsyncPath(d);
  }

  private async start(index: ChunkIndex): Promise<OpenPack> {
    const name = randomBytes(16).toString('hex');
    const path = join(this.packsDir, name.slice(0, 2), name);
    if ((await mkdir(dirname(path), { recursive: true })) !== undefined) this.dirtyDirs.add(this.packsDir);
    const fd = await fsOpen(path, 'wx');
    this.dirtyDirs.add(dirname(path));
    const direct = await openDirectWrites(path, fd);
    this.open = { name, number: index.packNumber(name), fd, direct, size: 0, written: 0, entries: [] };
    await this.put(this.open, packHeader(this.format.version));
    return this.open;
  }

  /**
   * Writes what is staged of `pack`: whole pages past the page cache, from the page-aligned staging
   * buffer (a pack is written once and read rarely, so caching it only costs; see openDirectWrites).
   * A partial last page stays staged until more bytes complete it. Without `all`, the whole pages are
   * written in the background while the other staging buffer fills (the partial page is carried over
   * to it): appends do not wait for the disk, and the disk is not idle while blobs are copied. `all`
   * (a read of the open pack, a larger blob, the seal) waits for that write and writes every byte now,
   * the partial page through the page cache (it is written again, direct, once its page is whole).
   */
  private async writeBuffered(pack: OpenPack, all: boolean): Promise<void> {
    await this.settlePending();
    const n = pack.size - pack.written;
    if (n === 0) return;
    const stage = this.stage!;
    const whole = n - (n % DIRECT_ALIGN);
    if (!all) {
      if (whole === 0) return;
      const next = (this.spare ??= allocAlignedBuffer(WRITE_BATCH_BYTES));
      stage.copy(next, 0, whole, n);
      [this.stage, this.spare] = [next, stage];
      this.pending = { pack, at: pack.written, length: whole };
      pack.written += whole;
      this.startPending();
      return;
    }
    await pack.direct.write(stage.subarray(0, n), pack.written);
    if (whole === n) {
      pack.written += n;
      return;
    }
    pack.written += whole;
    if (whole > 0) stage.copyWithin(0, whole, n);
  }

  /** Starts the write of the spare buffer's pages (again, after a failure). */
  private startPending(): void {
    const p = this.pending!;
    p.promise = p.pack.direct.write(this.spare!.subarray(0, p.length), p.at);
    // thrown by the next call, which waits for it; until then it is not unhandled
    p.promise.catch(() => undefined);
  }

  /**
   * Waits for the background write. A failed one is thrown once, as a synchronous write's failure was,
   * and made again by the next call (its bytes stay in the spare buffer, which nothing reuses until then).
   */
  private async settlePending(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    if (!p.promise) this.startPending();
    try {
      await p.promise;
      this.pending = undefined;
    } catch (e) {
      p.promise = undefined;
      throw e;
    }
  }

  private async seal(pack: OpenPack): Promise<void> {
    this.open = undefined;
    // still "open" to readers until every byte is in the file: a size check (PackStore.has) before
    // then saw a short pack and marked its last chunks bad
    this.sealing.add(pack.name);
    try {
      await this.put(pack, packTrailer(pack.entries, this.format));
      await this.writeBuffered(pack, true);
    } finally {
      this.sealing.delete(pack.name);
      await pack.direct.close();
    }
    pack.written = pack.size;
    const sync = fsFsync(pack.fd).finally(() => fsClose(pack.fd));
    sync.catch(() => undefined);
    this.syncs.push(sync);
    this.onSealed({ name: pack.name, entries: pack.entries });
  }
}
