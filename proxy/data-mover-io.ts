import { HvsnapError, isAbortError, toHvsnapError } from '../src/core/errors.js';
import { mergeRanges } from '../src/core/ranges.js';
import { allocAlignedShared } from '../src/core/direct-io.js';
import type { ByteRange } from '../src/core/types.js';
import { chunkId } from '../src/repository/chunk-id.js';

/** Time as the throttle sees it; injected by tests so no test waits on the wall clock. */
export interface ThrottleClock {
  /** ms, monotonic */
  now(): number;
  /** resolves after `ms` milliseconds; rejects when `signal` fires */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** One delivered chunk: `data.length` bytes of the source starting at byte `offset`. */
export interface DeliveredChunk {
  /** bytes from the start of the source */
  offset: number;
  data: Buffer;
  /** lowercase hex SHA-256 of `data` (or the id the `checksum` function gave), present when a checksum was asked for; '' for an all-zero chunk with a function */
  sha256?: string;
  /** true when every byte of `data` is zero; present when `checksum: 'sha256'` was asked for */
  zero?: boolean;
}

export interface ReadRangesParallelArgs {
  /**
   * Reads exactly `length` bytes at byte `offset`. Called concurrently, at most `concurrency` at
   * once. Required unless `readInto` is given.
   */
  read?: (offset: number, length: number) => Promise<Buffer>;
  /**
   * Fills all of `buf` with the bytes at byte `offset` (`buf.length` bytes). When given it is used
   * instead of `read`, into buffers the reader reuses from chunk to chunk (no fresh, page-faulting
   * allocation per chunk): a delivered chunk's `data` is then valid only until its `onChunk`
   * settles, and a caller that keeps it must copy it. `rangeEnd` (bytes): the end of the merged range
   * the chunk lies in, so a reader may read ahead up to there and never past what is read next.
   */
  readInto?: (buf: Buffer, offset: number, rangeEnd: number) => Promise<void>;
  /** byte ranges to read; overlapping or touching ranges are merged first, zero-length ones dropped */
  ranges: readonly ByteRange[];
  /** bytes; a chunk never crosses a multiple of `chunkSize`, so aligned ranges give aligned chunks */
  chunkSize: number;
  /** most reads running at once; >= 1 */
  concurrency: number;
  /**
   * bytes read or being read but not yet delivered (a read's bytes count until the last of its chunks is
   * delivered); >= chunkSize. Bounds memory whatever the range count.
   */
  maxBytesInFlight: number;
  /**
   * bytes per second of reads started; omit (or return undefined) for no limit. A function is asked
   * before every read, so a working-hours schedule can change the limit while a copy runs.
   */
  throttleBytesPerSec?: number | (() => number | undefined);
  signal?: AbortSignal;
  /**
   * Receives every chunk once, started in ascending offset order, at most `deliverConcurrency` at
   * a time (by default one: never concurrently). With `readInto`, `data` is reused after the
   * returned promise settles. Reads go on while it runs.
   */
  onChunk: (chunk: DeliveredChunk) => Promise<void>;
  /** most `onChunk` calls running at once; default 1. Chunks delivered count against `maxBytesInFlight`. */
  deliverConcurrency?: number;
  /**
   * With `readInto`: bytes one read may cover (default `chunkSize`). Consecutive chunks of one merged
   * range are then read into one buffer in one call, up to this many bytes (and never more than
   * `maxBytesInFlight`), and delivered one by one as views of it; the buffer is reused once all of
   * them are delivered. With 256 KiB chunks and 1 MiB, a full copy makes a quarter of the read calls
   * and no copy out of a read-ahead window (vhdx/readahead.ts serves only small reads; its preads
   * were 1 MiB already).
   */
  readGroupBytes?: number;
  /**
   * `sha256`, or a function giving a chunk's id: every delivered chunk carries it (in `sha256`),
   * computed as soon as the chunk is read (while other reads and `onChunk` wait on I/O), and
   * never for an all-zero chunk (`zero` set; with `sha256` its hash comes from a cache).
   */
  checksum?: 'sha256' | ((data: Buffer) => string | Promise<string>);
  /** defaults to the real clock */
  clock?: ThrottleClock;
}

export interface ReadRangesResult {
  /** bytes delivered */
  bytes: number;
  chunks: number;
  /** the most bytes that were in flight at once (never above `maxBytesInFlight`) */
  peakBytesInFlight: number;
  /** the most reads that ran at once (never above `concurrency`) */
  peakConcurrency: number;
}

/** The wall clock with an abortable sleep. */
export const systemClock: ThrottleClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortError(signal!));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Lowercase hex SHA-256 of one chunk: the repository's unkeyed {@link chunkId}. */
export function chunkSha256(data: Uint8Array): string {
  return chunkId(data);
}

const zeroHashes = new Map<number, string>();
const ZEROS = Buffer.alloc(64 * 1024);

/** True when every byte of `data` is zero (memcmp against a zero buffer; stops at the first non-zero byte). */
function isZero(data: Buffer): boolean {
  for (let off = 0; off < data.length; off += ZEROS.length) {
    const end = Math.min(off + ZEROS.length, data.length);
    if (!data.subarray(off, end).equals(ZEROS.subarray(0, end - off))) return false;
  }
  return true;
}

/**
 * Lowercase hex SHA-256 of one chunk, taking the hash of an all-zero chunk (often half a disk)
 * from a per-length cache. Synchronous on purpose: WebCrypto's thread-pool digest copies every
 * chunk into fresh memory first, which costs the main thread about as much as hashing it.
 */
export function chunkSha256Cached(data: Buffer): { sha256: string; zero: boolean } {
  if (!isZero(data)) return { sha256: chunkSha256(data), zero: false };
  let hash = zeroHashes.get(data.length);
  if (hash === undefined) zeroHashes.set(data.length, (hash = chunkSha256(data)));
  return { sha256: hash, zero: true };
}

/** The chunks of `ranges`, lazily (a million ranges never become a million objects at once). */
export function* splitIntoChunks(ranges: readonly ByteRange[], chunkSize: number): Generator<ByteRange> {
  for (const { offset, length } of chunksOf(ranges, chunkSize)) yield { offset, length };
}

/** {@link splitIntoChunks}, each chunk with the end (bytes) of the merged range it lies in. */
function* chunksOf(ranges: readonly ByteRange[], chunkSize: number): Generator<ByteRange & { rangeEnd: number }> {
  for (const r of mergeRanges(ranges)) {
    let offset = r.offset;
    const end = r.offset + r.length;
    while (offset < end) {
      const boundary = (Math.floor(offset / chunkSize) + 1) * chunkSize;
      const length = Math.min(end, boundary) - offset;
      yield { offset, length, rangeEnd: end };
      offset += length;
    }
  }
}

/** Consecutive chunks of one merged range, read in one call. */
interface Group extends ByteRange {
  /** the end of the merged range the chunks lie in */
  rangeEnd: number;
  chunks: ByteRange[];
}

/** The chunks of `ranges` ({@link chunksOf}) in groups of up to `most` consecutive chunks of one merged range. */
function* groupsOf(ranges: readonly ByteRange[], chunkSize: number, most: number): Generator<Group> {
  let group: Group | undefined;
  for (const { offset, length, rangeEnd } of chunksOf(ranges, chunkSize)) {
    // merged ranges neither overlap nor touch: the same end means the same range
    if (group && group.rangeEnd === rangeEnd && group.chunks.length < most) {
      group.chunks.push({ offset, length });
      group.length += length;
      continue;
    }
    if (group) yield group;
    group = { offset, length, rangeEnd, chunks: [{ offset, length }] };
  }
  if (group) yield group;
}

/** The read of one group: its bytes, its pooled buffer (with `readInto`) and how many of its chunks are not delivered yet. */
interface GroupRead {
  length: number;
  pooled?: Buffer;
  undelivered: number;
}

interface Slot {
  offset: number;
  length: number;
  /** set once the chunk is read (and hashed, when asked): the slot is ready to deliver */
  data?: Buffer;
  sum?: { sha256: string; zero: boolean };
  /** the read the chunk came with */
  read: GroupRead;
  settled: Promise<void>;
}

/**
 * Reads `ranges` with up to `concurrency` reads at once and at most `maxBytesInFlight` bytes held,
 * optionally paced to `throttleBytesPerSec`, and hands the chunks to `onChunk` in ascending offset
 * order. On a failure or abort no new read starts, the reads and deliveries already running are
 * awaited (nothing is left dangling), and the first error is thrown: `aborted`, or the read's error with the offset.
 */
export async function readRangesParallel(args: ReadRangesParallelArgs): Promise<ReadRangesResult> {
  checkArgs(args);
  const { chunkSize, concurrency, maxBytesInFlight, signal, onChunk } = args;
  const clock = args.clock ?? systemClock;
  // chunks per read: several only into buffers of our own (readInto), and never more than may be in flight
  const perRead = args.readInto
    ? Math.max(1, Math.min(Math.floor((args.readGroupBytes ?? chunkSize) / chunkSize), Math.floor(maxBytesInFlight / chunkSize)))
    : 1;
  // buffers of perRead chunks for readInto, reused once all their chunks are delivered; never more than the reads in flight
  const pool: Buffer[] = [];
  const groups = groupsOf(args.ranges, chunkSize, perRead);
  const queue: Slot[] = [];
  const result: ReadRangesResult = { bytes: 0, chunks: 0, peakBytesInFlight: 0, peakConcurrency: 0 };
  let reading = 0;
  let reserved = 0;
  const deliverLimit = args.deliverConcurrency ?? 1;
  let delivering = 0;
  const deliveries = new Set<Promise<void>>();
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  signal?.addEventListener('abort', notify);
  // the earliest time (clock ms) the next read may start; idle time is not banked, so no burst follows a stall
  let nextStart = -Infinity;
  const rateNow = () => {
    const t = args.throttleBytesPerSec;
    const rate = typeof t === 'function' ? t() : t;
    if (rate !== undefined && !(rate > 0)) {
      throw new HvsnapError('input_invalid', `readRangesParallel: throttleBytesPerSec must be > 0 bytes per second, got ${rate}`, {
        context: { field: 'throttleBytesPerSec' },
      });
    }
    return rate;
  };

  let next = groups.next();
  try {
    for (;;) {
      if (failure === undefined && signal?.aborted) failure = abortError(signal);
      if (failure !== undefined) break;
      const head = queue[0];
      if (!next.done && reading < concurrency && reserved + next.value.length <= maxBytesInFlight) {
        const { length } = next.value;
        const rate = rateNow();
        const now = rate ? clock.now() : 0;
        const wait = rate ? nextStart - now : 0;
        if (wait <= 0) {
          if (rate) nextStart = Math.max(nextStart, now) + (length * 1000) / rate;
          reserved += length;
          reading++;
          result.peakBytesInFlight = Math.max(result.peakBytesInFlight, reserved);
          result.peakConcurrency = Math.max(result.peakConcurrency, reading);
          queue.push(...startRead(next.value));
          next = groups.next();
          continue;
        }
        if (!head?.data) {
          // nothing to deliver meanwhile: sleep off the throttle, then re-check abort and failures
          await clock.sleep(wait, signal);
          continue;
        }
      }
      if (!head && delivering === 0) break;
      if (head?.data && delivering < deliverLimit) {
        queue.shift();
        deliver(head);
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } catch (e) {
    failure ??= isAbortError(e) ? abortError(signal) : toHvsnapError(e, 'proxy_failed');
  } finally {
    signal?.removeEventListener('abort', notify);
    await Promise.all([...queue.map((s) => s.settled), ...deliveries]);
  }
  if (failure !== undefined) throw failure;
  return result;

  function deliver(slot: Slot): void {
    const chunk: DeliveredChunk = { offset: slot.offset, data: slot.data! };
    if (slot.sum) Object.assign(chunk, slot.sum);
    delivering++;
    const done: Promise<void> = (async () => {
      try {
        await onChunk(chunk);
        slot.data = undefined;
        // a read's bytes stay reserved until the last of its chunks is delivered: its buffer is held until then
        if (--slot.read.undelivered === 0) {
          if (slot.read.pooled) pool.push(slot.read.pooled);
          reserved -= slot.read.length;
        }
        result.bytes += slot.length;
        result.chunks++;
      } catch (e) {
        failure ??= isAbortError(e) ? abortError(signal) : toHvsnapError(e, 'proxy_failed', { offset: slot.offset, step: 'onChunk' });
      }
    })().finally(() => {
      delivering--;
      deliveries.delete(done);
      notify();
    });
    deliveries.add(done);
  }

  /** Starts the read of `group`; returns a slot per chunk, each settled once its chunk is read (and hashed, when asked). */
  function startRead(group: Group): Slot[] {
    const read: GroupRead = { length: group.length, undelivered: group.chunks.length };
    const bytes = (async () => {
      try {
        return await readOne(group, read);
      } finally {
        reading--;
        notify();
      }
    })();
    return group.chunks.map(({ offset, length }) => {
      const slot: Slot = { offset, length, read, settled: Promise.resolve() };
      slot.settled = (async () => {
        let step = 'read';
        try {
          const all = await bytes;
          const data = all.subarray(offset - group.offset, offset - group.offset + length);
          step = 'checksum';
          // hashed as soon as it is read, while the other reads and the deliveries wait on the disk
          if (args.checksum === 'sha256') slot.sum = chunkSha256Cached(data);
          else if (args.checksum) slot.sum = isZero(data) ? { sha256: '', zero: true } : { sha256: await args.checksum(data), zero: false };
          slot.data = data;
        } catch (e) {
          // a failed read fails each of its chunks: the first names where the read started
          failure ??= toHvsnapError(e, 'proxy_failed', { offset: step === 'read' ? group.offset : offset, step });
        } finally {
          notify();
        }
      })();
      return slot;
    });
  }

  async function readOne(group: Group, read: GroupRead): Promise<Buffer> {
    const { offset, length, rangeEnd } = group;
    if (args.readInto) {
      // page-aligned, so a reader may fill it past the page cache (OpenVhdxOptions.directReads), and as fast as any
      // placement for buffered reads at page-aligned file offsets (see allocReadBuffer); on shared memory, so the codec
      // workers hash and seal the chunk where it was read (else each copies it first)
      read.pooled = pool.pop() ?? allocAlignedShared(perRead * chunkSize);
      const buf = read.pooled.subarray(0, length);
      await args.readInto(buf, offset, rangeEnd);
      return buf;
    }
    const got: unknown = await args.read!(offset, length);
    // a plain Uint8Array is accepted too, viewed as a Buffer without a copy
    const data = got instanceof Uint8Array && !Buffer.isBuffer(got) ? Buffer.from(got.buffer, got.byteOffset, got.byteLength) : got;
    if (!Buffer.isBuffer(data) || data.length !== length) {
      throw new HvsnapError('proxy_failed', `read at offset ${offset} returned ${describe(data)} instead of ${length} bytes`, {
        context: { offset, step: 'read' },
      });
    }
    return data;
  }
}

function describe(data: unknown): string {
  return Buffer.isBuffer(data) ? `${data.length} bytes` : `a ${typeof data}`;
}

function abortError(signal: AbortSignal | undefined): HvsnapError {
  return new HvsnapError('aborted', 'reading ranges was aborted', { cause: signal?.reason });
}

function checkArgs(args: ReadRangesParallelArgs): void {
  const bad = (field: string, why: string) => {
    throw new HvsnapError('input_invalid', `readRangesParallel: ${field} ${why}`, { context: { field } });
  };
  if (typeof args.read !== 'function' && typeof args.readInto !== 'function') bad('read', 'or readInto must be given (a function)');
  if (!Number.isSafeInteger(args.chunkSize) || args.chunkSize <= 0) bad('chunkSize', `must be a positive integer (bytes), got ${args.chunkSize}`);
  if (!Number.isSafeInteger(args.concurrency) || args.concurrency < 1) bad('concurrency', `must be an integer >= 1, got ${args.concurrency}`);
  if (args.deliverConcurrency !== undefined && (!Number.isSafeInteger(args.deliverConcurrency) || args.deliverConcurrency < 1)) {
    bad('deliverConcurrency', `must be an integer >= 1 when given, got ${args.deliverConcurrency}`);
  }
  if (!Number.isSafeInteger(args.maxBytesInFlight) || args.maxBytesInFlight < args.chunkSize) {
    bad('maxBytesInFlight', `must be an integer >= chunkSize (${args.chunkSize} bytes), got ${args.maxBytesInFlight}`);
  }
  if (args.readGroupBytes !== undefined && (!Number.isSafeInteger(args.readGroupBytes) || args.readGroupBytes < args.chunkSize)) {
    bad('readGroupBytes', `must be an integer >= chunkSize (${args.chunkSize} bytes) when given, got ${args.readGroupBytes}`);
  }
  if (typeof args.throttleBytesPerSec === 'number' && !(args.throttleBytesPerSec > 0)) {
    bad('throttleBytesPerSec', `must be > 0 bytes per second when given, got ${args.throttleBytesPerSec}`);
  }
  for (const [i, r] of args.ranges.entries()) {
    if (!Number.isSafeInteger(r.offset) || r.offset < 0 || !Number.isSafeInteger(r.length) || r.length < 0) {
      bad(`ranges[${i}]`, `must have a non-negative integer offset and length, got ${JSON.stringify(r)}`);
    }
  }
}
