import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { forEachLimit, fsyncPath, isErrno } from './fs-util.js';
import { checkChunkId, hashChunk, isAllZero, isChunkId } from './hash.js';
import { fileSystemSync, type FileSystemSync } from './sync-file-system.js';
import type { ChunkId } from './types.js';

/** What {@link ChunkStore.put} did. */
export interface PutChunkResult {
  /** the chunk's SHA-256, or null for an all-zero chunk (never stored) */
  id: ChunkId | null;
  /** true when this call created the chunk file; false for zeros and for chunks already present */
  written: boolean;
  /** bytes written to the store by this call (0 unless `written`) */
  bytesWritten: number;
}

// The callback API on raw fds for the per-chunk calls: a FileHandle costs several times more CPU
// per call in Node 20, which shows at hundreds of puts per second.
const fsAccess = promisify(fs.access);
const fsOpen = promisify(fs.open);
const fsWrite = promisify(fs.write);
const fsClose = promisify(fs.close);
const fsLink = promisify(fs.link);
const fsUnlink = promisify(fs.unlink);

/** Chunks put but not yet fsynced are flushed in the background once this many are pending. */
const FLUSH_EVERY = 4096;
/** parallel fsyncs: the file system batches them into few journal commits */
const FSYNC_PARALLEL = 32;
/**
 * Fewer files and folders than this to sync are fsynced one by one: syncfs writes back every dirty
 * page of the file system, other programs' too, which only pays when there are many of ours.
 */
const SYNCFS_MIN_PATHS = 32;
/**
 * Bytes of new chunks after which a background syncfs starts writing them back while the copy
 * goes on, so the flush at commit has only the rest to write. A hint only: it clears nothing
 * pending, and {@link ChunkStore.flush} still syncs everything itself.
 */
const WRITEBACK_EVERY = 16 * 1024 * 1024;

/**
 * The content-addressed chunk store: `chunks/<ab>/<cd>/<sha256>`, one file per distinct chunk,
 * holding the chunk's bytes as they are. A chunk is written to a temp file beside its final name
 * and hard-linked into place, so a reader never sees a partial chunk and, of two concurrent puts
 * of the same chunk, exactly one reports `written`.
 *
 * Durability is deferred: instead of one fsync per put (slow), every chunk put since the last
 * {@link flush} is remembered — including chunks found already present, which another process
 * may not have synced yet — and `flush` makes them and their folders durable at once: one syncfs
 * of the store's file system where it can (Linux), else fsyncs in parallel. A restore point
 * commit calls `flush` before its manifest becomes visible.
 *
 * The chunk is never written under its final name (not even with O_EXCL): a file there is complete
 * because its link was made after every byte was written, so a concurrent put or a reader never
 * takes a half-written file for the chunk, and a put that crashes leaves only a temp file for gc.
 * Moving the temp file with rename instead of link would replace a chunk another put had just
 * made (both complete, but the replaced one may be synced and the new one not yet); link never
 * replaces.
 */
export class ChunkStore {
  private pending = new Set<ChunkId>();
  private dirtyDirs = new Set<string>();
  private flushing: Promise<void> = Promise.resolve();
  private readonly token = randomBytes(6).toString('hex');
  private seq = 0;
  /** bytes written since the last background write-back started */
  private unsynced = 0;
  private writingBack = false;

  constructor(
    /** the `chunks` folder */
    readonly root: string,
    /** bytes */
    readonly chunkSize: number,
    private readonly logger: Logger,
    /** how {@link flush} syncs the whole file system at once; tests pass one that is unavailable or fails */
    private readonly fsSync: FileSystemSync = fileSystemSync(),
  ) {}

  /** The file of chunk `id`. */
  pathOf(id: ChunkId): string {
    return join(this.root, id.slice(0, 2), id.slice(2, 4), id);
  }

  /** Stores one chunk (1 byte to chunkSize bytes). See {@link PutChunkResult}. */
  async put(data: Uint8Array, id?: ChunkId): Promise<PutChunkResult> {
    if (data.byteLength === 0 || data.byteLength > this.chunkSize) {
      throw new HvsnapError('input_invalid', `a chunk must hold 1 to ${this.chunkSize} bytes, got ${data.byteLength}`, { context: { field: 'data' } });
    }
    if (isAllZero(data)) return { id: null, written: false, bytesWritten: 0 };
    const chunkId = id === undefined ? hashChunk(data) : checkChunkId(id, 'id');
    const file = this.pathOf(chunkId);
    let written = false;
    if (!(await this.has(chunkId))) {
      const dir = dirname(file);
      const tmp = join(dir, `.${chunkId}.${this.token}-${this.seq++}.tmp`);
      try {
        await this.writeTemp(tmp, data);
        await fsLink(tmp, file);
        written = true;
        this.dirtyDirs.add(dir);
        // the sync helper forks cheaply now, long before the flush that needs it
        this.fsSync.prepare();
        this.unsynced += data.byteLength;
        if (this.unsynced >= WRITEBACK_EVERY) this.startWriteback();
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw toStoreError(e, 'write', file);
      } finally {
        await fsUnlink(tmp).catch(() => undefined);
      }
    }
    this.pending.add(chunkId);
    if (this.pending.size >= FLUSH_EVERY) await this.flush();
    return { id: chunkId, written, bytesWritten: written ? data.byteLength : 0 };
  }

  /** True when chunk `id` is stored. */
  async has(id: ChunkId): Promise<boolean> {
    try {
      await fsAccess(this.pathOf(checkChunkId(id)));
      return true;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw toStoreError(e, 'read', this.pathOf(id));
    }
  }

  /**
   * The bytes of chunk `id`. `integrity_failed` naming the file when it is missing, larger than
   * a chunk, or (with `verify`) when its content does not hash to `id`.
   */
  async get(id: ChunkId, verify = false): Promise<Buffer> {
    const file = this.pathOf(checkChunkId(id));
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new HvsnapError('integrity_failed', `chunk ${id} is missing (${file})`, { context: { chunk: id, file } });
      throw toStoreError(e, 'read', file);
    }
    if (data.length === 0 || data.length > this.chunkSize) {
      throw new HvsnapError('integrity_failed', `chunk file ${file} holds ${data.length} bytes; a chunk holds 1 to ${this.chunkSize}`, { context: { chunk: id, file } });
    }
    if (verify && hashChunk(data) !== id) {
      throw new HvsnapError('integrity_failed', `chunk file ${file} is corrupt: its content does not hash to its name`, { context: { chunk: id, file } });
    }
    return data;
  }

  /**
   * Makes every chunk put so far durable, with the folders that gained entries. For many of them,
   * one syncfs of the store's file system where available: it writes back all dirty data and
   * metadata of that file system, so every pending chunk file and folder entry (and anything else)
   * is on disk when it returns, exactly as after an fsync of each. Otherwise — few paths, syncfs
   * unavailable or failed — the files and folders are fsynced, FSYNC_PARALLEL at a time. Flushes
   * run one after another, so a flush returns only after every earlier put is durable, even one an
   * overlapping flush had picked up.
   */
  flush(): Promise<void> {
    const run = async (): Promise<void> => {
      const ids = this.pending;
      const dirs = this.dirtyDirs;
      this.pending = new Set();
      this.dirtyDirs = new Set();
      if (ids.size === 0 && dirs.size === 0) return;
      let how: 'syncfs' | 'fsync' = 'fsync';
      try {
        if (ids.size + dirs.size >= SYNCFS_MIN_PATHS && (await this.fsSync.sync(this.root))) how = 'syncfs';
        else await forEachLimit([...[...ids].map((id) => this.pathOf(id)), ...dirs], FSYNC_PARALLEL, fsyncPath);
      } catch (e) {
        for (const id of ids) this.pending.add(id);
        for (const dir of dirs) this.dirtyDirs.add(dir);
        throw toStoreError(e, 'fsync', this.root);
      }
      this.logger.debug({ chunks: ids.size, folders: dirs.size, how }, 'chunks flushed');
    };
    const next = this.flushing.then(run, run);
    this.flushing = next.catch(() => undefined);
    return next;
  }

  /**
   * Starts a syncfs of the store's file system in the background (one at a time), so the disk
   * writes the new chunks back while more are read. Durability does not rest on it: it leaves
   * every chunk pending, and its result is ignored (a failure makes `available` false, so the
   * next flush fsyncs file by file).
   */
  private startWriteback(): void {
    if (this.writingBack || !this.fsSync.available) return;
    this.writingBack = true;
    this.unsynced = 0;
    void this.fsSync.sync(this.root).finally(() => (this.writingBack = false));
  }

  /** Ends the file-system sync helper, if one runs; a later flush starts it again. */
  close(): void {
    this.fsSync.close();
  }

  /**
   * Writes a new temp file (O_EXCL: its name is unique to this put); its folder is made on first
   * use (most exist in a repository of some size). One write call for the whole chunk.
   */
  private async writeTemp(tmp: string, data: Uint8Array): Promise<void> {
    let fd: number;
    try {
      fd = await fsOpen(tmp, 'wx');
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      const dir = dirname(tmp);
      if ((await mkdir(dir, { recursive: true })) !== undefined) {
        // new folders are entries of their parents: those must be synced too
        this.dirtyDirs.add(this.root);
        this.dirtyDirs.add(dirname(dir));
      }
      fd = await fsOpen(tmp, 'wx');
    }
    try {
      for (let done = 0; done < data.byteLength; ) {
        done += (await fsWrite(fd, data, done, data.byteLength - done, done)).bytesWritten;
      }
    } finally {
      await fsClose(fd);
    }
  }

  /**
   * Walks every file under the store, for garbage collection. Yields chunk files with their id and
   * temp files (leftovers of crashed puts) with id undefined; anything else is left alone.
   */
  async *files(): AsyncGenerator<{ path: string; id: ChunkId | undefined }> {
    for (const a of await readdirOrEmpty(this.root)) {
      for (const b of await readdirOrEmpty(join(this.root, a))) {
        const dir = join(this.root, a, b);
        for (const name of await readdirOrEmpty(dir)) {
          if (isChunkId(name) && name.startsWith(a + b)) yield { path: join(dir, name), id: name };
          else if (name.startsWith('.') && name.endsWith('.tmp')) yield { path: join(dir, name), id: undefined };
        }
      }
    }
  }

  /** Size in bytes of a stored file (0 when it vanished). */
  async sizeOf(path: string): Promise<number> {
    return stat(path).then((s) => s.size, () => 0);
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}

function toStoreError(e: unknown, what: string, file: string): HvsnapError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new HvsnapError('repository_invalid', `cannot ${what} ${file}: ${code}`, {
    cause: e,
    context: { file },
    retryable: code === 'EAGAIN' || code === 'EBUSY',
  });
}
