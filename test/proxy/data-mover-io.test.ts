import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import { readRangesParallel, splitIntoChunks, type DeliveredChunk, type ThrottleClock } from '../../proxy/data-mover-io.js';

/** A deterministic source: byte i is (i * 31 + 7) mod 251. */
function sourceBytes(offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = ((offset + i) * 31 + 7) % 251;
  return b;
}

/** A reader whose reads finish in a scrambled order (later chunks often first) and that records concurrency. */
function scrambledReader() {
  const stats = { active: 0, maxActive: 0, calls: 0 };
  let tick = 0;
  const read = async (offset: number, length: number) => {
    stats.calls++;
    stats.active++;
    stats.maxActive = Math.max(stats.maxActive, stats.active);
    const delayTurns = (tick++ * 7) % 5; // 0..4 microtask/timer turns, out of order
    for (let i = 0; i < delayTurns; i++) await new Promise((r) => setImmediate(r));
    stats.active--;
    return sourceBytes(offset, length);
  };
  return { read, stats };
}

/** A fake clock: sleep advances time at once and records every sleep. */
function fakeClock(): ThrottleClock & { t: number; sleeps: number[] } {
  const c = {
    t: 1000,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
  };
  return c;
}

describe('splitIntoChunks', () => {
  it('merges ranges and never crosses a chunk boundary', () => {
    const out = [
      ...splitIntoChunks(
        [
          { offset: 100, length: 50 },
          { offset: 10, length: 95 },
          { offset: 300, length: 0 },
          { offset: 256, length: 10 },
        ],
        64,
      ),
    ];
    expect(out).toEqual([
      { offset: 10, length: 54 },
      { offset: 64, length: 64 },
      { offset: 128, length: 22 },
      { offset: 256, length: 10 },
    ]);
  });
});

describe('readRangesParallel', () => {
  it('delivers every byte once, in ascending order, with checksums, within the concurrency and memory bounds', async () => {
    const { read, stats } = scrambledReader();
    const ranges = [
      { offset: 0, length: 10_000 },
      { offset: 50_000, length: 4096 * 3 + 5 },
      { offset: 20_000, length: 1 },
    ];
    const delivered: DeliveredChunk[] = [];
    let heldNow = 0;
    const res = await readRangesParallel({
      read,
      ranges,
      chunkSize: 4096,
      concurrency: 3,
      maxBytesInFlight: 4096 * 4,
      checksum: 'sha256',
      onChunk: async (c) => {
        heldNow++;
        expect(heldNow).toBe(1); // never two deliveries at once
        await new Promise((r) => setImmediate(r));
        delivered.push(c);
        heldNow--;
      },
    });
    const offsets = delivered.map((c) => c.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(offsets[0]).toBe(0);
    for (const c of delivered) {
      expect(c.data.equals(sourceBytes(c.offset, c.data.length))).toBe(true);
      expect(c.sha256).toBe(createHash('sha256').update(c.data).digest('hex'));
    }
    expect(res.bytes).toBe(10_000 + 4096 * 3 + 5 + 1);
    expect(delivered.reduce((n, c) => n + c.data.length, 0)).toBe(res.bytes);
    expect(res.chunks).toBe(delivered.length);
    expect(stats.maxActive).toBeLessThanOrEqual(3);
    expect(res.peakConcurrency).toBe(stats.maxActive);
    expect(res.peakConcurrency).toBeGreaterThan(1); // it really ran in parallel
    expect(res.peakBytesInFlight).toBeLessThanOrEqual(4096 * 4);
  });

  it('holds memory to maxBytesInFlight when the consumer is slow (recorded from outside)', async () => {
    let outstanding = 0; // bytes handed out by read() and not yet consumed
    let maxOutstanding = 0;
    let active = 0;
    let maxActive = 0;
    const read = async (offset: number, length: number) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setImmediate(r));
      active--;
      outstanding += length;
      maxOutstanding = Math.max(maxOutstanding, outstanding);
      return sourceBytes(offset, length);
    };
    const res = await readRangesParallel({
      read,
      ranges: [{ offset: 0, length: 1024 * 200 }],
      chunkSize: 1024,
      concurrency: 8,
      maxBytesInFlight: 1024 * 5,
      onChunk: async (c) => {
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        outstanding -= c.data.length;
      },
    });
    expect(res.chunks).toBe(200);
    expect(maxOutstanding).toBeLessThanOrEqual(1024 * 5);
    expect(maxActive).toBeLessThanOrEqual(5); // memory, not concurrency, was the binding limit
    expect(res.peakBytesInFlight).toBe(1024 * 5);
  });

  it('paces reads to the throttle on an injected clock', async () => {
    const clock = fakeClock();
    const starts: Array<{ t: number; offset: number }> = [];
    const rate = 10_000; // bytes per second
    const res = await readRangesParallel({
      read: async (offset, length) => {
        starts.push({ t: clock.now(), offset });
        return sourceBytes(offset, length);
      },
      ranges: [{ offset: 0, length: 50_000 }],
      chunkSize: 5_000,
      concurrency: 4,
      maxBytesInFlight: 20_000,
      throttleBytesPerSec: rate,
      clock,
      onChunk: async () => {},
    });
    expect(res.bytes).toBe(50_000);
    expect(starts).toHaveLength(10);
    // the read of chunk k starts no earlier than k * 5000 bytes / 10000 B/s = k * 500 ms after the first
    for (const [k, s] of starts.entries()) expect(s.t - starts[0].t).toBeGreaterThanOrEqual(k * 500 - 1e-6);
    // and no later than needed: 10 chunks take 4.5 s of clock time in total
    expect(clock.t - 1000).toBeCloseTo(4500, 6);
    expect(clock.sleeps.length).toBeGreaterThan(0);
  });

  it('asks a throttle function before every read, so a schedule can lift the limit mid-copy', async () => {
    const clock = fakeClock();
    let delivered = 0;
    const res = await readRangesParallel({
      read: async (offset, length) => sourceBytes(offset, length),
      ranges: [{ offset: 0, length: 10_000 }],
      chunkSize: 1_000,
      concurrency: 1,
      maxBytesInFlight: 1_000,
      throttleBytesPerSec: () => (delivered < 4 ? 1_000 : undefined), // working hours end after 4 chunks
      clock,
      onChunk: async () => void delivered++,
    });
    expect(res.chunks).toBe(10);
    // chunks 0-3 start 1 s apart (3 waits); from chunk 4 on the limit is gone
    expect(clock.sleeps).toEqual([1000, 1000, 1000]);
  });

  it('names the offset of a chunk the consumer refused', async () => {
    const err = await readRangesParallel({
      read: async (o, l) => sourceBytes(o, l),
      ranges: [{ offset: 0, length: 5000 }],
      chunkSize: 1000,
      concurrency: 2,
      maxBytesInFlight: 2000,
      onChunk: async (c) => {
        if (c.offset === 2000) throw new Error('disk full');
      },
    }).catch((e: unknown) => e);
    expect(isHvsnapError(err) && err.context).toMatchObject({ offset: 2000, step: 'onChunk' });
    expect((err as Error).message).toBe('disk full');
  });

  it('stops on abort, lets running reads finish, starts no more, and throws aborted', async () => {
    const ac = new AbortController();
    let started = 0;
    let running = 0;
    const res = readRangesParallel({
      read: async (offset, length) => {
        started++;
        running++;
        await new Promise((r) => setImmediate(r));
        running--;
        return sourceBytes(offset, length);
      },
      ranges: [{ offset: 0, length: 1000 * 100 }],
      chunkSize: 1000,
      concurrency: 2,
      maxBytesInFlight: 4000,
      signal: ac.signal,
      onChunk: async (c) => {
        if (c.offset === 5000) ac.abort();
      },
    });
    const err = await res.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isHvsnapError(err) && err.code).toBe('aborted');
    expect(running).toBe(0);
    expect(started).toBeLessThan(12);
  });

  it('aborts a throttle sleep', async () => {
    const ac = new AbortController();
    const clock: ThrottleClock = {
      now: () => 0,
      sleep: (_ms, signal) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
          ac.abort();
        }),
    };
    const err = await readRangesParallel({
      read: async (o, l) => sourceBytes(o, l),
      ranges: [{ offset: 0, length: 4000 }],
      chunkSize: 1000,
      concurrency: 1,
      maxBytesInFlight: 1000,
      throttleBytesPerSec: 1,
      clock,
      signal: ac.signal,
      onChunk: async () => {},
    }).catch((e: unknown) => e);
    expect(isHvsnapError(err) && err.code).toBe('aborted');
  });

  it('reports a failed or short read with its offset, after the other reads settled', async () => {
    let running = 0;
    const err = await readRangesParallel({
      read: async (offset, length) => {
        running++;
        await new Promise((r) => setImmediate(r));
        running--;
        if (offset === 3000) return sourceBytes(offset, length - 1);
        return sourceBytes(offset, length);
      },
      ranges: [{ offset: 0, length: 10_000 }],
      chunkSize: 1000,
      concurrency: 4,
      maxBytesInFlight: 8000,
      onChunk: async () => {},
    }).catch((e: unknown) => e);
    expect(isHvsnapError(err) && err.code).toBe('proxy_failed');
    expect(isHvsnapError(err) && err.context.offset).toBe(3000);
    expect((err as Error).message).toMatch(/offset 3000 returned 999 bytes instead of 1000/);
    expect(running).toBe(0);
  });

  it('names the option that is wrong', async () => {
    const base = { read: async () => Buffer.alloc(0), ranges: [], onChunk: async () => {} };
    await expect(readRangesParallel({ ...base, chunkSize: 0, concurrency: 1, maxBytesInFlight: 1 })).rejects.toThrow(/chunkSize/);
    await expect(readRangesParallel({ ...base, chunkSize: 10, concurrency: 0, maxBytesInFlight: 10 })).rejects.toThrow(/concurrency/);
    await expect(readRangesParallel({ ...base, chunkSize: 10, concurrency: 1, maxBytesInFlight: 9 })).rejects.toThrow(/maxBytesInFlight/);
    await expect(readRangesParallel({ ...base, chunkSize: 10, concurrency: 1, maxBytesInFlight: 10, throttleBytesPerSec: -1 })).rejects.toThrow(
      /throttleBytesPerSec/,
    );
    await expect(readRangesParallel({ ...base, chunkSize: 10, concurrency: 1, maxBytesInFlight: 10, deliverConcurrency: 0 })).rejects.toThrow(
      /deliverConcurrency/,
    );
    await expect(readRangesParallel({ ...base, chunkSize: 10, concurrency: 1, maxBytesInFlight: 10, readGroupBytes: 9 })).rejects.toThrow(/readGroupBytes/);
    await expect(readRangesParallel({ ranges: [], onChunk: async () => {}, chunkSize: 10, concurrency: 1, maxBytesInFlight: 10 })).rejects.toThrow(
      /read or readInto/,
    );
  });
});

describe('readRangesParallel with readInto and concurrent deliveries', () => {
  /** A readInto over sourceBytes that zeroes [zeroFrom, zeroTo) and finishes reads out of order. */
  function scrambledReadInto(zeroFrom = 0, zeroTo = 0) {
    let tick = 0;
    const buffers = new Set<ArrayBuffer>();
    const readInto = async (buf: Buffer, offset: number) => {
      buffers.add(buf.buffer as ArrayBuffer);
      const delayTurns = (tick++ * 7) % 5;
      for (let i = 0; i < delayTurns; i++) await new Promise((r) => setImmediate(r));
      sourceBytes(offset, buf.length).copy(buf);
      for (let at = Math.max(zeroFrom, offset); at < Math.min(zeroTo, offset + buf.length); at++) buf[at - offset] = 0;
    };
    return { readInto, buffers };
  }

  it('reuses a bounded set of buffers, each chunk intact while it is delivered, zero chunks flagged', async () => {
    const { readInto, buffers } = scrambledReadInto(8192, 8192 * 3);
    const seen: Array<{ offset: number; length: number; zero?: boolean }> = [];
    const res = await readRangesParallel({
      readInto,
      ranges: [{ offset: 0, length: 4096 * 40 + 100 }],
      chunkSize: 4096,
      concurrency: 3,
      maxBytesInFlight: 4096 * 5,
      checksum: 'sha256',
      onChunk: async (c) => {
        const want = sourceBytes(c.offset, c.data.length);
        if (c.offset >= 8192 && c.offset < 8192 * 3) want.fill(0);
        await new Promise((r) => setImmediate(r)); // the other reads go on meanwhile
        expect(c.data.equals(want)).toBe(true);
        expect(c.sha256).toBe(createHash('sha256').update(want).digest('hex'));
        seen.push({ offset: c.offset, length: c.data.length, zero: c.zero });
      },
    });
    expect(res.chunks).toBe(41);
    expect(seen.at(-1)).toEqual({ offset: 4096 * 40, length: 100, zero: false });
    expect(seen.filter((c) => c.zero).map((c) => c.offset)).toEqual([8192, 8192 + 4096, 16384, 16384 + 4096]);
    expect(buffers.size).toBeLessThanOrEqual(5); // never more buffers than chunks in flight
  });

  it('runs up to deliverConcurrency deliveries at once, started in ascending order, within maxBytesInFlight', async () => {
    const { readInto } = scrambledReadInto();
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const res = await readRangesParallel({
      readInto,
      ranges: [{ offset: 0, length: 1000 * 30 }],
      chunkSize: 1000,
      concurrency: 2,
      deliverConcurrency: 3,
      maxBytesInFlight: 1000 * 5,
      onChunk: async (c) => {
        started.push(c.offset);
        running++;
        maxRunning = Math.max(maxRunning, running);
        const copy = Buffer.from(c.data);
        for (let i = 0; i < (c.offset / 1000) % 4; i++) await new Promise((r) => setImmediate(r));
        expect(c.data.equals(copy)).toBe(true); // not reused while its delivery runs
        running--;
      },
    });
    expect(res.chunks).toBe(30);
    expect(started).toEqual([...started].sort((a, b) => a - b));
    expect(maxRunning).toBe(3);
    expect(res.peakBytesInFlight).toBeLessThanOrEqual(1000 * 5);
  });

  it('waits for the running deliveries before it throws the first refusal', async () => {
    let running = 0;
    const err = await readRangesParallel({
      readInto: scrambledReadInto().readInto,
      ranges: [{ offset: 0, length: 1000 * 20 }],
      chunkSize: 1000,
      concurrency: 2,
      deliverConcurrency: 4,
      maxBytesInFlight: 1000 * 8,
      onChunk: async (c) => {
        running++;
        await new Promise((r) => setImmediate(r));
        running--;
        if (c.offset === 3000) throw new Error('disk full');
      },
    }).catch((e: unknown) => e);
    expect(isHvsnapError(err) && err.context).toMatchObject({ offset: 3000, step: 'onChunk' });
    expect(running).toBe(0);
  });

  describe('reading runs of chunks in one call (readGroupBytes)', () => {
    /** A scrambled readInto that records each call and scribbles on its buffer before filling it, as a pread from another thread would. */
    function recordingReadInto() {
      const calls: Array<{ offset: number; length: number; rangeEnd: number }> = [];
      const { readInto: fill, buffers } = scrambledReadInto();
      const readInto = async (buf: Buffer, offset: number, rangeEnd: number) => {
        calls.push({ offset, length: buf.length, rangeEnd });
        buf.fill(0xee);
        await fill(buf, offset);
      };
      return { readInto, calls, buffers };
    }

    it('reads up to readGroupBytes of one merged range per call, and delivers each chunk alone, intact until its delivery settles', async () => {
      const { readInto, calls, buffers } = recordingReadInto();
      const delivered: Array<{ offset: number; length: number }> = [];
      const res = await readRangesParallel({
        readInto,
        // 10 chunks and 100 bytes, then 3 chunks of another range
        ranges: [
          { offset: 0, length: 4096 * 10 + 100 },
          { offset: 4096 * 20, length: 4096 * 3 },
        ],
        chunkSize: 4096,
        readGroupBytes: 4096 * 4,
        concurrency: 2,
        deliverConcurrency: 3,
        maxBytesInFlight: 4096 * 12,
        onChunk: async (c) => {
          delivered.push({ offset: c.offset, length: c.data.length }); // in the order deliveries start
          const copy = Buffer.from(c.data);
          // the later chunks of its read are delivered and their reads go on meanwhile
          for (let i = 0; i < ((c.offset / 4096) % 3) + 1; i++) await new Promise((r) => setImmediate(r));
          expect(c.data.equals(copy), `chunk at ${c.offset} changed while it was delivered`).toBe(true);
          expect(c.data.equals(sourceBytes(c.offset, c.data.length)), `chunk at ${c.offset}`).toBe(true);
        },
      });
      expect(calls.map((c) => [c.offset, c.length, c.rangeEnd])).toEqual([
        [0, 4096 * 4, 4096 * 10 + 100],
        [4096 * 4, 4096 * 4, 4096 * 10 + 100],
        [4096 * 8, 4096 * 2 + 100, 4096 * 10 + 100],
        [4096 * 20, 4096 * 3, 4096 * 23],
      ]);
      expect(delivered.map((c) => c.offset)).toEqual([...Array.from({ length: 11 }, (_, i) => i * 4096), 4096 * 20, 4096 * 21, 4096 * 22]);
      expect(delivered.every((c) => c.length === (c.offset === 4096 * 10 ? 100 : 4096))).toBe(true);
      expect(res).toMatchObject({ chunks: 14, bytes: 4096 * 13 + 100 });
      expect(res.peakBytesInFlight).toBeLessThanOrEqual(4096 * 12);
      expect(buffers.size).toBeLessThanOrEqual(3); // one per read in flight (12 chunks / 4 per read)
    });

    it('never reads more at once than maxBytesInFlight allows', async () => {
      const { readInto, calls } = recordingReadInto();
      await readRangesParallel({
        readInto,
        ranges: [{ offset: 0, length: 1000 * 9 }],
        chunkSize: 1000,
        readGroupBytes: 1000 * 8,
        concurrency: 4,
        maxBytesInFlight: 1000 * 2,
        onChunk: async (c) => expect(c.data.equals(sourceBytes(c.offset, c.data.length))).toBe(true),
      });
      expect(calls.map((c) => c.length)).toEqual([2000, 2000, 2000, 2000, 1000]);
    });

    it('names where a failed read of several chunks started, and delivers none of them', async () => {
      const delivered: number[] = [];
      const err = await readRangesParallel({
        readInto: async (buf, offset) => {
          await new Promise((r) => setImmediate(r));
          if (offset === 4000) throw new Error('EIO');
          sourceBytes(offset, buf.length).copy(buf);
        },
        ranges: [{ offset: 0, length: 1000 * 12 }],
        chunkSize: 1000,
        readGroupBytes: 4000,
        concurrency: 1,
        maxBytesInFlight: 4000,
        onChunk: async (c) => void delivered.push(c.offset),
      }).catch((e: unknown) => e);
      expect(isHvsnapError(err) && err.context).toMatchObject({ offset: 4000, step: 'read' });
      expect(delivered).toEqual([0, 1000, 2000, 3000]);
    });
  });
});
