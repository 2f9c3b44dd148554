import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HvsnapError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';
import { allocAlignedShared, DIRECT_ALIGN } from '../core/direct-io.js';
import type { ChunkId } from './types.js';

/** What src/repository/codec-worker.mjs exports (the one implementation of the chunk codec). */
interface CodecModule {
  idOf(data: Uint8Array, macKey: Uint8Array | undefined): string;
  sealInto(
    raw: Uint8Array,
    out: Uint8Array,
    id: string,
    encKey: Uint8Array | undefined,
    crc: boolean,
    level?: number,
  ): Promise<{ length: number; compressed: boolean }>;
  idSealInto(
    raw: Uint8Array,
    out: Uint8Array,
    macKey: Uint8Array | undefined,
    encKey: Uint8Array | undefined,
    crc: boolean,
  ): Promise<{ id: string; length: number; compressed: boolean }>;
  openInto(
    stored: Uint8Array,
    out: Uint8Array,
    id: string,
    rawLength: number,
    compressed: boolean,
    encKey: Uint8Array | undefined,
    macKey: Uint8Array | undefined,
    mode: OpenMode,
  ): Promise<string | undefined>;
  openAllInto(items: OpenItem[], encKey: Uint8Array | undefined, macKey: Uint8Array | undefined, mode: OpenMode): Promise<Array<string | undefined>>;
  crcOf(id: string, compressed: boolean, payload: Uint8Array): number;
  crc32(data: Uint8Array, crc: number): number;
  crc32Portable(data: Uint8Array, crc: number): number;
  CRC_BYTES: number;
}

/**
 * How stored blobs are opened: `crc` when an unencrypted blob ends in its CRC-32 (a version 3
 * pack; codec-worker.mjs `crcOf`); `ids` to hash every chunk again and compare it with its id even
 * where that checksum or an encrypted blob's GCM tag vouches for it (verify --deep, gc). A blob that
 * nothing else vouches for (unencrypted, version 2) is always hashed.
 */
export interface OpenMode {
  crc: boolean;
  ids: boolean;
}

/** One blob for {@link CodecPool.openAll}: as the arguments of {@link CodecPool.open}. */
export interface OpenItem {
  stored: Uint8Array;
  out: Buffer;
  id: ChunkId;
  rawLength: number;
  compressed: boolean;
}

/** The codec worker's file: `<package root>/src/repository/codec-worker.mjs` (not compiled; see its header). */
export function codecWorkerFile(): string {
  return join(packageRoot(), 'src', 'repository', 'codec-worker.mjs');
}

let codecModule: Promise<CodecModule> | undefined;
/** The codec module, imported into this thread (for the in-thread mode and its constants). */
export function loadCodec(): Promise<CodecModule> {
  return (codecModule ??= import(pathToFileURL(codecWorkerFile()).href) as Promise<CodecModule>);
}

/** Bytes a blob adds to its payload at most: an encrypted one its nonce and tag (an unencrypted one of a version 3 pack, its 4-byte checksum). */
export const SEAL_OVERHEAD = 12 + 16;

function checkSealOutput(raw: Uint8Array, out: Buffer): void {
  if (out.length < raw.byteLength + SEAL_OVERHEAD)
    throw new HvsnapError('internal', `seal: output of ${out.length} bytes is too small for ${raw.byteLength}`, { context: { field: 'out' } });
}

interface Region {
  sab: SharedArrayBuffer;
  off: number;
  len: number;
}

/** A view's memory as the worker sees it; undefined when the view is not on a SharedArrayBuffer. */
function regionOf(u: Uint8Array): Region | undefined {
  return u.buffer instanceof SharedArrayBuffer ? { sab: u.buffer, off: u.byteOffset, len: u.byteLength } : undefined;
}

/** A buffer on shared memory (workers read and write it in place). */
export function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

/** Room a pooled buffer has beyond its `size`: the partial pages around a blob that a direct read also reads. */
const BUFFER_SLACK = 2 * DIRECT_ALIGN;

/**
 * Shared buffers reused from task to task: a chunk's memory is faulted in once, not per chunk
 * (fresh allocations of 1 MiB cost more than hashing them on virtual machines with slow page
 * faults). Every buffer starts on a page (see core/direct-io.ts), so a direct read can fill it.
 */
export class SharedBuffers {
  /** pooled buffers, each of {@link capacity} bytes */
  private readonly free: Buffer[] = [];
  /** bytes of each pooled buffer: `size` plus {@link BUFFER_SLACK} */
  private readonly capacity: number;
  /** where the pool's buffers start in their memory: offsets by ArrayBuffer */
  private readonly mine = new WeakMap<ArrayBufferLike, Set<number>>();
  constructor(
    /** bytes of each buffer */
    readonly size: number,
    /** buffers kept for reuse at most */
    private readonly keep = 64,
  ) {
    this.capacity = size + BUFFER_SLACK;
  }
  /** A page-aligned buffer of `bytes` (pooled when ≤ size + {@link BUFFER_SLACK}; a larger one is made for the call). */
  take(bytes: number): Buffer {
    if (bytes > this.capacity) return allocAlignedShared(bytes);
    const full = this.free.pop() ?? this.made(allocAlignedShared(this.capacity));
    return full.subarray(0, bytes);
  }
  /** Gives back a buffer from {@link take}. */
  give(buf: Buffer): void {
    if (this.free.length < this.keep && this.mine.get(buf.buffer)?.has(buf.byteOffset)) this.free.push(Buffer.from(buf.buffer, buf.byteOffset, this.capacity));
  }
  private made(buf: Buffer): Buffer {
    const offsets = this.mine.get(buf.buffer) ?? new Set<number>();
    this.mine.set(buf.buffer, offsets.add(buf.byteOffset));
    return buf;
  }
}

interface Task {
  message: Record<string, unknown>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface PoolWorker {
  worker: Worker;
  /** its tasks in flight, by message number */
  tasks: Map<number, Task>;
}

/**
 * Tasks a worker holds at once. Two: while one waits on zstd (which runs on libuv's thread pool)
 * the worker hashes the next, and a worker never idles between a result and its next task.
 */
const TASKS_PER_WORKER = 2;

/**
 * Chunk ids, sealing and opening of blobs on worker threads ({@link TASKS_PER_WORKER} tasks per
 * worker at a time, the rest queued), on memory shared with them: the main thread only reads and
 * writes files. Workers start on first use and hold the process open only while they work.
 * `threads: 0` runs the same code on the calling thread.
 */
export class CodecPool {
  private readonly workers: PoolWorker[] = [];
  private readonly queue: Task[] = [];
  private readonly staging = new SharedBuffers(2 << 20, 16);
  private next = 0;

  constructor(readonly threads: number) {
    if (!Number.isInteger(threads) || threads < 0)
      throw new HvsnapError('input_invalid', `codec threads must be an integer >= 0, got ${threads}`, { context: { field: 'threads' } });
  }

  /** The chunk id of `data` (keyed by `macKey`): the same as chunk-id.ts `chunkId`, computed on a worker. */
  async id(data: Uint8Array, macKey?: Uint8Array): Promise<ChunkId> {
    if (this.threads === 0) return (await loadCodec()).idOf(data, macKey);
    return this.withShared(data, (input) => this.run({ op: 'id', in: input, macKey }) as Promise<ChunkId>);
  }

  /**
   * Seals `raw` (chunk `id`) into `out` (≥ raw.length + {@link SEAL_OVERHEAD} bytes): see
   * codec-worker.mjs `sealInto`. Returns the stored length and whether it is compressed.
   */
  async seal(raw: Uint8Array, out: Buffer, id: ChunkId, encKey: Uint8Array | undefined, crc: boolean): Promise<{ length: number; compressed: boolean }> {
    if (this.threads === 0) {
      checkSealOutput(raw, out);
      return (await loadCodec()).sealInto(raw, out, id, encKey, crc);
    }
    return this.sealTask(raw, out, { op: 'seal', id, encKey, crc });
  }

  /**
   * {@link id} and {@link seal} in one task (see codec-worker.mjs `idSealInto`): the id of `raw`
   * (keyed by `keys.mac`) and `raw` sealed into `out` under it. For a chunk that is most likely new;
   * when it turns out to be stored already, the sealing was wasted.
   */
  async idSeal(
    raw: Uint8Array,
    out: Buffer,
    keys: { enc?: Uint8Array; mac?: Uint8Array } | undefined,
    crc: boolean,
  ): Promise<{ id: ChunkId; length: number; compressed: boolean }> {
    if (this.threads === 0) {
      checkSealOutput(raw, out);
      return (await loadCodec()).idSealInto(raw, out, keys?.mac, keys?.enc, crc);
    }
    return this.sealTask(raw, out, { op: 'idseal', macKey: keys?.mac, encKey: keys?.enc, crc });
  }

  /** A sealing task on a worker, into `out` (through shared staging memory when `out` is not shared). */
  private async sealTask<R extends { length: number }>(raw: Uint8Array, out: Buffer, message: Record<string, unknown>): Promise<R> {
    checkSealOutput(raw, out);
    const target = regionOf(out) ? out : this.staging.take(out.length);
    try {
      const r = (await this.withShared(raw, (input) => this.run({ ...message, in: input, out: regionOf(target) }))) as R;
      if (target !== out) target.copy(out, 0, 0, r.length);
      return r;
    } finally {
      if (target !== out) this.staging.give(target);
    }
  }

  /**
   * Opens stored blob `stored` of chunk `id` into `out` (exactly rawLength bytes) and checks it as
   * `mode` says (tag or checksum, length, id). Returns undefined when sound, else why not. `out` may
   * be the start of `stored` itself for a blob stored raw and unencrypted (inPlaceOf in blob-codec.ts).
   */
  async open(
    stored: Uint8Array,
    out: Buffer,
    id: ChunkId,
    rawLength: number,
    compressed: boolean,
    keys: { enc: Uint8Array; mac: Uint8Array } | undefined,
    mode: OpenMode,
  ): Promise<string | undefined> {
    if (out.length !== rawLength) return `it holds a different length than the index says (${rawLength} bytes)`;
    if (this.threads === 0) return (await loadCodec()).openInto(stored, out, id, rawLength, compressed, keys?.enc, keys?.mac, mode);
    const target = regionOf(out) ? out : this.staging.take(out.length);
    try {
      const r = (await this.withShared(stored, (input) =>
        this.run({ op: 'open', in: input, out: regionOf(target), id, rawLength, compressed, encKey: keys?.enc, macKey: keys?.mac, mode }),
      )) as { problem?: string };
      if (!r.problem && target !== out) target.copy(out);
      return r.problem;
    } finally {
      if (target !== out) this.staging.give(target);
    }
  }

  /**
   * {@link open} of each of `items`, with the same keys, in one task on one worker: one message each
   * way instead of one per blob. For the blobs of one read of a pack (pack-chunk-read.ts
   * `leaseRun`): a cold restore of the bench's disk (4 GiB of 256 KiB chunks) then switched threads
   * 26-27 thousand times instead of 47-50 thousand, in 6.3-6.6 s of CPU time instead of 6.7-6.9 s
   * (`/usr/bin/time`, 2 runs each). Each item's problem, in order (undefined when sound). Items not
   * on shared memory are opened one by one ({@link open}).
   */
  async openAll(items: readonly OpenItem[], keys: { enc: Uint8Array; mac: Uint8Array } | undefined, mode: OpenMode): Promise<Array<string | undefined>> {
    const regions = items.map((x) => ({ in: regionOf(x.stored), out: regionOf(x.out) }));
    // in this thread, or one by one where an item needs a copy (or has a wrong length, which open names)
    if (this.threads === 0 || items.some((x, k) => !regions[k].in || !regions[k].out || x.out.length !== x.rawLength))
      return Promise.all(items.map((x) => this.open(x.stored, x.out, x.id, x.rawLength, x.compressed, keys, mode)));
    const r = (await this.run({
      op: 'openAll',
      items: items.map((x, k) => ({ in: regions[k].in, out: regions[k].out, id: x.id, rawLength: x.rawLength, compressed: x.compressed })),
      encKey: keys?.enc,
      macKey: keys?.mac,
      mode,
    })) as { problems: Array<string | undefined> };
    return r.problems;
  }

  /**
   * Starts the workers now, idle. A worker takes 0.1-0.5 s to start on the bench VM (its thread,
   * then the codec module and zstd's binding); started on first use, that lay on the first chunks'
   * path, a large share of a short incremental.
   */
  warm(): void {
    while (this.workers.length < this.threads) this.spawn();
  }

  /** Stops the workers (idle ones do not keep the process alive anyway). */
  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.worker.terminate()));
  }

  /** Runs `fn` on a shared view of `data`: `data` itself when it already is one, else a copy. */
  private async withShared<T>(data: Uint8Array, fn: (r: Region) => Promise<T>): Promise<T> {
    const r = regionOf(data);
    if (r) return fn(r);
    const copy = this.staging.take(data.byteLength);
    try {
      copy.set(data);
      return await fn(regionOf(copy)!);
    } finally {
      this.staging.give(copy);
    }
  }

  private run(message: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      // an idle worker first (spawned if the pool is not full yet), then the least busy with room
      let w = this.workers.find((x) => x.tasks.size === 0);
      if (!w && this.workers.length < this.threads) w = this.spawn();
      w ??= this.workers.reduce<PoolWorker | undefined>((a, x) => (x.tasks.size < TASKS_PER_WORKER && (!a || x.tasks.size < a.tasks.size) ? x : a), undefined);
      if (!w) return;
      const task = this.queue.shift()!;
      const t = this.next++;
      w.tasks.set(t, task);
      w.worker.ref();
      w.worker.postMessage({ ...task.message, t });
    }
  }

  private spawn(): PoolWorker {
    const w: PoolWorker = { worker: new Worker(codecWorkerFile(), { workerData: { hvsnapCodec: true } }), tasks: new Map() };
    // idle, a worker holds nothing open; unref() before it is online does not hold (a warmed pool kept the process alive)
    w.worker.unref();
    w.worker.once('online', () => {
      if (w.tasks.size === 0) w.worker.unref();
    });
    w.worker.on('message', (m: { t: number; result?: unknown; error?: string }) => {
      const task = w.tasks.get(m.t);
      w.tasks.delete(m.t);
      if (w.tasks.size === 0) w.worker.unref();
      if (m.error !== undefined) task?.reject(new HvsnapError('internal', `codec worker: ${m.error}`));
      else task?.resolve(m.result);
      this.dispatch();
    });
    const fail = (e: unknown) => {
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1);
      for (const task of w.tasks.values())
        task.reject(new HvsnapError('internal', `codec worker stopped: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      w.tasks.clear();
      this.dispatch();
    };
    w.worker.on('error', fail);
    w.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.workers.push(w);
    return w;
  }
}

let shared: CodecPool | undefined;

/**
 * The process's codec pool: `HVSNAP_CODEC_THREADS` threads when set (0: on the calling thread),
 * else one per core up to 4.
 */
export function codecPool(): CodecPool {
  if (!shared) {
    const env = process.env.HVSNAP_CODEC_THREADS;
    const n = env === undefined || env === '' ? Math.min(4, availableParallelism()) : Number(env);
    if (!Number.isInteger(n) || n < 0)
      throw new HvsnapError('input_invalid', `HVSNAP_CODEC_THREADS must be an integer >= 0, got ${env}`, { context: { field: 'HVSNAP_CODEC_THREADS' } });
    shared = new CodecPool(n);
  }
  return shared;
}
