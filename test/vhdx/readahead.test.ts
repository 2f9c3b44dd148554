import { mkdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { allocReadBuffer, openVhdx, writeVhdxStream } from '../../src/vhdx/index.js';
import { Readahead } from '../../src/vhdx/readahead.js';
import { readRangesParallel } from '../../proxy/data-mover-io.js';
import { buildDifferencingChain, buildVhdxWithPendingLog } from '../helpers/vhdx-fixtures.js';
import { MiB, prng, randomBytes, tempDir } from './helpers.js';

/** A fake file over `data` that records every pread and can be told to fail. */
function fakeFile(data: Buffer) {
  const calls: Array<{ pos: number; length: number }> = [];
  let failAt: number | undefined;
  const fetch = async (buf: Uint8Array, at: number, length: number, pos: number) => {
    calls.push({ pos, length });
    // a real pread fills the buffer from another thread while the caller runs: scribble at once
    buf.fill(0xee, at, at + length);
    await new Promise((r) => setImmediate(r));
    if (failAt !== undefined && pos <= failAt && failAt < pos + length) throw new Error(`EIO at ${failAt}`);
    buf.set(data.subarray(pos, pos + length), at);
  };
  return { calls, fetch, failAt: (p: number | undefined) => (failAt = p) };
}

/** Reads [pos, pos+length) the way VhdxFile does: read-ahead first, a direct read when it declines. */
async function readThrough(ra: Readahead, f: ReturnType<typeof fakeFile>, pos: number, length: number, limit: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  if (!(await ra.read(out, 0, length, pos, limit))) await f.fetch(out, 0, length, pos);
  return out;
}

describe('Readahead', () => {
  const data = randomBytes(prng(7), 8 * MiB);

  it('serves small sequential reads from windows, never past the limit', async () => {
    const f = fakeFile(data);
    const ra = new Readahead(f.fetch, { windowSize: 256 * 1024, depth: 3 });
    const limit = 3 * MiB + 4096;
    for (let pos = MiB; pos + 48 * 1024 <= limit; pos += 48 * 1024) {
      expect((await readThrough(ra, f, pos, 48 * 1024, limit)).equals(data.subarray(pos, pos + 48 * 1024))).toBe(true);
    }
    await ra.settle();
    expect(Math.max(...f.calls.map((c) => c.pos + c.length))).toBeLessThanOrEqual(limit);
    // the first read goes direct, then 256 KiB windows: far fewer preads than reads
    expect(f.calls.filter((c) => c.length === 256 * 1024).length).toBeGreaterThan(4);
    expect(f.calls.length).toBeLessThan(Math.ceil((2 * MiB) / (48 * 1024)) / 2);
  });

  it('declines random, large and past-limit reads, which are read directly', async () => {
    const f = fakeFile(data);
    const ra = new Readahead(f.fetch, { windowSize: MiB, depth: 2 });
    const out = Buffer.alloc(4096);
    expect(await ra.read(out, 0, 4096, 0, 8 * MiB)).toBe(false);
    expect(await ra.read(out, 0, 4096, 5 * MiB, 8 * MiB)).toBe(false);
    expect(await ra.read(Buffer.alloc(MiB), 0, MiB, 5 * MiB + 4096, 8 * MiB)).toBe(false);
    expect(await ra.read(out, 0, 4096, 6 * MiB + 4096, 6 * MiB + 4096)).toBe(false);
    expect(f.calls).toEqual([]);
  });

  it('falls back to a direct read (and its error) when a window fails', async () => {
    const f = fakeFile(data);
    const ra = new Readahead(f.fetch, { windowSize: 64 * 1024, depth: 4, minRun: 1 });
    await readThrough(ra, f, 0, 16 * 1024, 8 * MiB);
    f.failAt(100 * 1024);
    expect((await readThrough(ra, f, 16 * 1024, 16 * 1024, 8 * MiB)).equals(data.subarray(16 * 1024, 32 * 1024))).toBe(true);
    await expect(readThrough(ra, f, 96 * 1024, 16 * 1024, 8 * MiB)).rejects.toThrow('EIO at 102400');
    f.failAt(undefined);
    expect((await readThrough(ra, f, 112 * 1024, 16 * 1024, 8 * MiB)).equals(data.subarray(112 * 1024, 128 * 1024))).toBe(true);
    await ra.settle();
  });

  it('gives right bytes to overlapping concurrent readers while buffers are recycled', async () => {
    const f = fakeFile(data);
    const ra = new Readahead(f.fetch, { windowSize: 64 * 1024, depth: 2 });
    const step = 12 * 1024; // reads straddle window ends
    await readThrough(ra, f, 0, step, 8 * MiB);
    const reads: Array<Promise<Buffer>> = [];
    for (let pos = step; pos + step <= 2 * MiB; pos += step) reads.push(readThrough(ra, f, pos, step, 8 * MiB));
    const got = await Promise.all(reads);
    got.forEach((b, k) => expect(b.equals(data.subarray(step * (k + 1), step * (k + 2)))).toBe(true));
    await ra.settle();
    // most reads were served from windows: far fewer preads than reads
    expect(f.calls.length).toBeLessThan(reads.length / 2);
  });

  it('never refills a window a reader is still copying from', async () => {
    // preads complete when the test says: window 1 first, then window 0 in the same tick
    const pending: Array<{ pos: number; done: () => void }> = [];
    const fetch = (buf: Uint8Array, at: number, length: number, pos: number) => {
      buf.fill(0xee, at, at + length);
      return new Promise<void>((resolve) =>
        pending.push({
          pos,
          done: () => {
            buf.set(data.subarray(pos, pos + length), at);
            resolve();
          },
        }),
      );
    };
    const ra = new Readahead(fetch, { windowSize: 64 * 1024, depth: 2, minRun: 1 });
    const out0 = Buffer.alloc(4096);
    expect(await ra.read(out0, 0, 4096, 0, 8 * MiB)).toBe(false);
    const a = ra.read(Buffer.alloc(4096), 0, 4096, 4096, 8 * MiB).then(() => 'a');
    const aOut = Buffer.alloc(4096);
    const a2 = ra.read(aOut, 0, 4096, 8192, 8 * MiB);
    const cOut = Buffer.alloc(16 * 1024);
    // ends past window 0 (4096 + 64 KiB), so when it finishes window 0 is released
    const c = ra.read(cOut, 0, 16 * 1024, 68 * 1024, 8 * MiB);
    expect(pending.map((p) => p.pos)).toEqual([4096, 4096 + 64 * 1024]);
    pending[1].done();
    pending[0].done();
    expect(await c).toBe(true);
    expect(await a2).toBe(true);
    await a;
    expect(cOut.equals(data.subarray(68 * 1024, 84 * 1024))).toBe(true);
    expect(aOut.equals(data.subarray(8192, 12288))).toBe(true);
    for (const p of pending.slice(2)) p.done();
    await ra.settle();
  });

  it('never hands out a buffer a pread is still filling', async () => {
    const pending: Array<() => void> = [];
    const fetch = (buf: Uint8Array, at: number, length: number, pos: number) => {
      buf.fill(0xee, at, at + length);
      return new Promise<void>((resolve) =>
        pending.push(() => {
          buf.set(data.subarray(pos, pos + length), at);
          resolve();
        }),
      );
    };
    const ra = new Readahead(fetch, { windowSize: 64 * 1024, depth: 3, minRun: 1 });
    const K = 1024;
    expect(await ra.read(Buffer.alloc(4096), 0, 4096, 0, 8 * MiB)).toBe(false);
    const first = ra.read(Buffer.alloc(4096), 0, 4096, 4 * K, 8 * MiB); // windows at 4, 68 and 132 KiB
    pending[0]();
    expect(await first).toBe(true);
    // a read in the third window skips the second, whose pread still runs when the third finishes
    const skip = ra.read(Buffer.alloc(4096), 0, 4096, 160 * K, 8 * MiB);
    pending[2]();
    expect(await skip).toBe(true);
    // windows at 196 and 260 KiB started; the second window's late pread must not land in either
    expect(pending.length).toBe(5);
    pending[3]();
    pending[4]();
    pending[1]();
    await new Promise((r) => setImmediate(r));
    const out = Buffer.alloc(4096);
    expect(await ra.read(out, 0, 4096, 200 * K, 8 * MiB)).toBe(true);
    expect(out.equals(data.subarray(200 * K, 204 * K))).toBe(true);
    for (const p of pending.slice(5)) p();
    await ra.settle();
  });

  it('forgets what it read ahead when told the file changed', async () => {
    const copy = Buffer.from(data.subarray(0, MiB));
    const f = fakeFile(copy);
    const ra = new Readahead(f.fetch, { windowSize: 128 * 1024, depth: 4, minRun: 1 });
    await readThrough(ra, f, 0, 4096, MiB);
    await readThrough(ra, f, 4096, 4096, MiB);
    copy.fill(0xab, 8192, 16384);
    ra.clear();
    expect((await readThrough(ra, f, 8192, 4096, MiB)).every((x) => x === 0xab)).toBe(true);
    // windows dropped while their preads ran are not refilled under later readers
    for (let pos = 12288; pos + 4096 <= MiB; pos += 4096) {
      const got = await readThrough(ra, f, pos, 4096, MiB);
      expect(got.equals(copy.subarray(pos, pos + 4096)), `offset ${pos}`).toBe(true);
      if (pos % (64 * 1024) === 0) ra.clear();
    }
    await ra.settle();
  });
});

describe('Readahead ramp (incremental backups read what they ask for)', () => {
  const data = randomBytes(prng(11), 40 * MiB);
  const K = 1024;
  const bytesFetched = (f: ReturnType<typeof fakeFile>) => f.calls.reduce((n, c) => n + c.length, 0);

  it('pairs of adjacent chunk reads scattered over a block never read ahead', async () => {
    const f = fakeFile(data);
    const ra = new Readahead(f.fetch);
    const limit = 32 * MiB; // the end of the VHDX block the reads lie in
    let asked = 0;
    // a 64 KiB write straddling a chunk boundary: two adjacent 256 KiB chunks, every 1.25 MiB
    for (let pos = 256 * K; pos + 512 * K <= limit; pos += 1280 * K) {
      for (const p of [pos, pos + 256 * K]) expect((await readThrough(ra, f, p, 256 * K, limit)).equals(data.subarray(p, p + 256 * K))).toBe(true);
      asked += 512 * K;
    }
    await ra.settle();
    expect(bytesFetched(f)).toBe(asked);
  });

  it('a run that stops early has read ahead no more than it read', async () => {
    const f = fakeFile(data);
    const ra = new Readahead(f.fetch);
    // runs of 6 chunks (1.5 MiB) with gaps: read-ahead starts after 1 MiB with one window
    let asked = 0;
    for (let start = 0; start + 2 * MiB <= 32 * MiB; start += 4 * MiB) {
      for (let p = start; p < start + 1536 * K; p += 256 * K) await readThrough(ra, f, p, 256 * K, 32 * MiB);
      asked += 1536 * K;
    }
    await ra.settle();
    expect(bytesFetched(f)).toBeLessThanOrEqual(2 * asked);
  });

  it('a long sequential run of small reads ramps up to full depth, also with concurrent callers', async () => {
    for (const concurrency of [1, 4]) {
      const f = fakeFile(data);
      const ra = new Readahead(f.fetch, { depth: 4 });
      const limit = 32 * MiB;
      const reads: Array<Promise<Buffer>> = [];
      for (let pos = 0; pos < limit; pos += 128 * K) {
        const p = pos;
        reads.push(readThrough(ra, f, p, 128 * K, limit).then((b) => (expect(b.equals(data.subarray(p, p + 128 * K))).toBe(true), b)));
        if (reads.length >= concurrency) await reads.shift();
      }
      await Promise.all(reads);
      await ra.settle();
      const windows = f.calls.filter((c) => c.length === MiB);
      expect(windows.length, `concurrency ${concurrency}`).toBeGreaterThan(24);
      expect(f.calls.length, `concurrency ${concurrency}`).toBeLessThan(48);
      expect(bytesFetched(f), `concurrency ${concurrency}`).toBeLessThanOrEqual(limit);
    }
  });
});

describe('small sequential reads through the engine', () => {
  const t = tempDir();
  afterAll(() => t.cleanup());
  const steps = [4096, 96 * 1024 + 512, 128 * 1024, 256 * 1024];

  /** Reads the whole disk in `step`-byte reads; `runBytes` given, tells read-ahead where each run of that many bytes ends. */
  async function readAll(path: string, step: number, opts: { syncReads?: boolean; runBytes?: number } = {}): Promise<Buffer> {
    const img = await openVhdx(path, opts);
    try {
      const out = Buffer.alloc(img.virtualSize);
      for (let off = 0; off < img.virtualSize; off += step) {
        const readaheadEnd = opts.runBytes ? Math.min(img.virtualSize, (Math.floor(off / opts.runBytes) + 1) * opts.runBytes) : undefined;
        await img.readInto(out.subarray(off, Math.min(off + step, img.virtualSize)), off, { readaheadEnd });
      }
      return out;
    } finally {
      await img.close();
    }
  }

  it('a file with a pending log reads as replayed, in any read size, async or with syncReads', async () => {
    const f = await buildVhdxWithPendingLog(t.path('log.vhdx'));
    for (const step of steps) expect((await readAll(f.path, step)).equals(f.expected), `step ${step}`).toBe(true);
    for (const step of [4096, 128 * 1024])
      expect((await readAll(f.path, step, { runBytes: 1536 * 1024 })).equals(f.expected), `step ${step}, limited`).toBe(true);
    for (const step of [4096, 128 * 1024, 3 * MiB])
      expect((await readAll(f.path, step, { syncReads: true })).equals(f.expected), `sync step ${step}`).toBe(true);
  });

  it('a differencing chain reads through to its parents, in any read size, async or with syncReads', async () => {
    const dir = t.path('chain');
    mkdirSync(dir);
    const c = await buildDifferencingChain(dir);
    for (const step of steps) expect((await readAll(c.top, step)).equals(c.expected), `step ${step}`).toBe(true);
    // with the caller's read-ahead limit (runs of 1.5 MiB: read-ahead starts and is cut short in every file of the chain)
    for (const step of [4096, 128 * 1024])
      expect((await readAll(c.top, step, { runBytes: 1536 * 1024 })).equals(c.expected), `step ${step}, limited`).toBe(true);
    for (const step of [4096, 128 * 1024, 3 * MiB])
      expect((await readAll(c.top, step, { syncReads: true })).equals(c.expected), `sync step ${step}`).toBe(true);
  });

  it('syncReads turns a failed pread into a rejection, as the async reader does', async () => {
    const f = await buildVhdxWithPendingLog(t.path('closed.vhdx'), { seed: 9 });
    for (const syncReads of [false, true]) {
      const img = await openVhdx(f.path, { syncReads });
      await img.close();
      // the descriptor is closed: the pread fails with EBADF
      await expect(img.readInto(Buffer.alloc(MiB), 0), `syncReads ${syncReads}`).rejects.toThrow(/EBADF/);
    }
  });

  it('a writable image reads its own writes after reading ahead', async () => {
    const data = randomBytes(prng(3), 8 * MiB);
    async function* source() {
      yield { offset: 0, data };
    }
    const path = t.path('rw.vhdx');
    await writeVhdxStream(path, { virtualSize: 8 * MiB, blockSize: 2 * MiB, source: source() });
    const img = await openVhdx(path, { writable: true });
    const buf = allocReadBuffer(64 * 1024);
    for (let off = 0; off < 256 * 1024; off += buf.length) await img.readInto(buf, off);
    await img.write(320 * 1024, Buffer.alloc(64 * 1024, 0x5a));
    for (let off = 256 * 1024; off < 512 * 1024; off += buf.length) {
      await img.readInto(buf, off);
      const want = off === 320 * 1024 ? Buffer.alloc(64 * 1024, 0x5a) : data.subarray(off, off + buf.length);
      expect(buf.equals(want), `offset ${off}`).toBe(true);
    }
    await img.close();
  });

  it('an incremental-shaped copy through the data mover reads only the chunks it asks for', async () => {
    const data = randomBytes(prng(12), 64 * MiB);
    async function* source() {
      yield { offset: 0, data };
    }
    const path = t.path('incr.vhdx');
    await writeVhdxStream(path, { virtualSize: data.length, blockSize: 32 * MiB, source: source() });
    const img = await openVhdx(path);
    try {
      const chunkSize = 256 * 1024;
      // every 2.5 MiB: a 64 KiB write straddling a chunk boundary (two adjacent chunks), then a
      // 1.5 MiB write (a run of 6 chunks, long enough to start read-ahead, which must stop at its end)
      const ranges = [];
      for (let off = 0; off + 2560 * 1024 <= data.length; off += 2560 * 1024)
        ranges.push({ offset: off, length: 2 * chunkSize }, { offset: off + MiB, length: 6 * chunkSize });
      const before = img.stats.fileBytesRead;
      let bytes = 0;
      await readRangesParallel({
        readInto: (buf, offset, rangeEnd) => img.readInto(buf, offset, { readaheadEnd: rangeEnd }),
        ranges,
        chunkSize,
        concurrency: 4,
        maxBytesInFlight: 16 * chunkSize,
        onChunk: async (c) => {
          expect(c.data.equals(data.subarray(c.offset, c.offset + c.data.length)), `offset ${c.offset}`).toBe(true);
          bytes += c.data.length;
        },
      });
      expect(bytes).toBe(ranges.length * 4 * chunkSize);
      expect(img.stats.fileBytesRead - before).toBe(bytes);
      // a long sequential run with the same limit still reads every byte once
      const all = img.stats.fileBytesRead;
      await readRangesParallel({
        readInto: (buf, offset, rangeEnd) => img.readInto(buf, offset, { readaheadEnd: rangeEnd }),
        ranges: [{ offset: 0, length: data.length }],
        chunkSize,
        concurrency: 4,
        maxBytesInFlight: 16 * chunkSize,
        onChunk: async (c) => expect(c.data.equals(data.subarray(c.offset, c.offset + c.data.length)), `offset ${c.offset}`).toBe(true),
      });
      expect(img.stats.fileBytesRead - all).toBe(data.length);
    } finally {
      await img.close();
    }
  });

  it('allocReadBuffer returns exactly the bytes asked for and checks the length', () => {
    expect(allocReadBuffer(0).length).toBe(0);
    const b = allocReadBuffer(MiB, 12345);
    expect(b.length).toBe(MiB);
    expect(b.byteOffset + b.length).toBeLessThanOrEqual(b.buffer.byteLength);
    expect(() => allocReadBuffer(-1)).toThrow('length must be a non-negative integer');
  });

  it('image.read returns the right bytes at any offset and length (placed buffers)', async () => {
    const f = await buildVhdxWithPendingLog(t.path('log2.vhdx'), { seed: 5 });
    const img = await openVhdx(f.path);
    try {
      for (const [off, len] of [
        [0, 64 * 1024],
        [5 * MiB + 60 * 1024, 100 * 1024 + 512],
        [MiB - 4096, 2 * MiB + 8192],
        [777 * 512, 3 * MiB],
      ]) {
        const got = await img.read(off, len);
        expect(got.length).toBe(len);
        expect(got.equals(f.expected.subarray(off, off + len)), `offset ${off} length ${len}`).toBe(true);
      }
    } finally {
      await img.close();
    }
  });
});
