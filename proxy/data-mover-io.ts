import { createHash } from 'node:crypto';
import { HvsnapError, isAbortError, toHvsnapError } from '../src/core/errors.js';
import { mergeRanges } from '../src/core/ranges.js';
import type { ByteRange } from '../src/core/types.js';

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
  /** lowercase hex SHA-256 of `data`, present when `checksum: 'sha256'` was asked for */
  sha256?: string;
}

export interface ReadRangesParallelArgs {
  /** Reads exactly `length` bytes at byte `offset`. Called concurrently, at most `concurrency` at once. */
  read: (offset: number, length: number) => Promise<Buffer>;
  /** byte ranges to read; overlapping or touching ranges are merged first, zero-length ones dropped */
  ranges: readonly ByteRange[];
  /** bytes; a chunk never crosses a multiple of `chunkSize`, so aligned ranges give aligned chunks */
  chunkSize: number;
  /** most reads running at once; >= 1 */
  concurrency: number;
  /** bytes read or being read but not yet delivered; >= chunkSize. Bounds memory whatever the range count. */
  maxBytesInFlight: number;
  /**
   * bytes per second of reads started; omit (or return undefined) for no limit. A function is asked
   * before every read, so a working-hours schedule can change the limit while a copy runs.
   */
  throttleBytesPerSec?: number | (() => number | undefined);
  signal?: AbortSignal;
  /** Receives every chunk once, in ascending offset order, one at a time (never concurrently). */
  onChunk: (chunk: DeliveredChunk) => Promise<void>;
  /** `sha256`: every delivered chunk carries its SHA-256 */
  checksum?: 'sha256';
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

/** Lowercase hex SHA-256 of one chunk. */
export function chunkSha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The chunks of `ranges`, lazily (a million ranges never become a million objects at once). */
export function* splitIntoChunks(ranges: readonly ByteRange[], chunkSize: number): Generator<ByteRange> {
  for (const r of mergeRanges(ranges)) {
    let offset = r.offset;
    const end = r.offset + r.length;
    while (offset < end) {
      const boundary = (Math.floor(offset / chunkSize) + 1) * chunkSize;
      const length = Math.min(end, boundary) - offset;
      yield { offset, length };
      offset += length;
    }
  }
}

interface Slot {
  offset: number;
  length: number;
  data?: Buffer;
  settled: Promise<void>;
}

/**
 * Reads `ranges` with up to `concurrency` reads at once and at most `maxBytesInFlight` bytes held,
 * optionally paced to `throttleBytesPerSec`, and hands the chunks to `onChunk` in ascending offset
 * order. On a failure or abort no new read starts, the reads already running are awaited (nothing
 * is left dangling), and the first error is thrown: `aborted`, or the read's error with the offset.
 */
export async function readRangesParallel(args: ReadRangesParallelArgs): Promise<ReadRangesResult> {
  checkArgs(args);
  const { read, chunkSize, concurrency, maxBytesInFlight, signal, onChunk } = args;
  const clock = args.clock ?? systemClock;
  const chunks = splitIntoChunks(args.ranges, chunkSize);
  const queue: Slot[] = [];
  const result: ReadRangesResult = { bytes: 0, chunks: 0, peakBytesInFlight: 0, peakConcurrency: 0 };
  let reading = 0;
  let reserved = 0;
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

  let next = chunks.next();
  try {
    for (;;) {
      if (failure === undefined && signal?.aborted) failure = abortError(signal);
      if (failure !== undefined) break;
      const head = queue[0];
      if (!next.done && reading < concurrency && reserved + next.value.length <= maxBytesInFlight) {
        const { offset, length } = next.value;
        const rate = rateNow();
        const now = rate ? clock.now() : 0;
        const wait = rate ? nextStart - now : 0;
        if (wait <= 0) {
          if (rate) nextStart = Math.max(nextStart, now) + (length * 1000) / rate;
          reserved += length;
          reading++;
          result.peakBytesInFlight = Math.max(result.peakBytesInFlight, reserved);
          result.peakConcurrency = Math.max(result.peakConcurrency, reading);
          queue.push(startRead(offset, length));
          next = chunks.next();
          continue;
        }
        if (!head?.data) {
          // nothing to deliver meanwhile: sleep off the throttle, then re-check abort and failures
          await clock.sleep(wait, signal);
          continue;
        }
      }
      if (!head) break;
      if (head.data) {
        queue.shift();
        const chunk: DeliveredChunk = { offset: head.offset, data: head.data };
        if (args.checksum === 'sha256') chunk.sha256 = chunkSha256(head.data);
        try {
          await onChunk(chunk);
        } catch (e) {
          throw isAbortError(e) ? e : toHvsnapError(e, 'proxy_failed', { offset: head.offset, step: 'onChunk' });
        }
        head.data = undefined;
        reserved -= head.length;
        result.bytes += head.length;
        result.chunks++;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } catch (e) {
    failure ??= isAbortError(e) ? abortError(signal) : toHvsnapError(e, 'proxy_failed');
  } finally {
    signal?.removeEventListener('abort', notify);
    await Promise.all(queue.map((s) => s.settled));
  }
  if (failure !== undefined) throw failure;
  return result;

  function startRead(offset: number, length: number): Slot {
    const slot: Slot = { offset, length, settled: Promise.resolve() };
    slot.settled = (async () => {
      try {
        const got: unknown = await read(offset, length);
        // a plain Uint8Array is accepted too, viewed as a Buffer without a copy
        const data = got instanceof Uint8Array && !Buffer.isBuffer(got) ? Buffer.from(got.buffer, got.byteOffset, got.byteLength) : got;
        if (!Buffer.isBuffer(data) || data.length !== length) {
          throw new HvsnapError('proxy_failed', `read at offset ${offset} returned ${describe(data)} instead of ${length} bytes`, {
            context: { offset, step: 'read' },
          });
        }
        slot.data = data;
      } catch (e) {
        failure ??= toHvsnapError(e, 'proxy_failed', { offset, step: 'read' });
      } finally {
        reading--;
        notify();
      }
    })();
    return slot;
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
  if (!Number.isSafeInteger(args.chunkSize) || args.chunkSize <= 0) bad('chunkSize', `must be a positive integer (bytes), got ${args.chunkSize}`);
  if (!Number.isSafeInteger(args.concurrency) || args.concurrency < 1) bad('concurrency', `must be an integer >= 1, got ${args.concurrency}`);
  if (!Number.isSafeInteger(args.maxBytesInFlight) || args.maxBytesInFlight < args.chunkSize) {
    bad('maxBytesInFlight', `must be an integer >= chunkSize (${args.chunkSize} bytes), got ${args.maxBytesInFlight}`);
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
