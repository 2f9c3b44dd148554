import { randomBytes } from 'node:crypto';
import { readdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DIRECT_ALIGN } from '../../src/core/direct-io.js';
import { openRepository, type Repository } from '../../src/repository/index.js';
import { CodecPool, SharedBuffers } from '../../src/repository/codec-pool.js';
import { READ_RUN_BYTES, READ_RUN_SLACK } from '../../src/repository/pack-chunk-read.js';
import { PackReadCache } from '../../src/repository/pack-read-cache.js';
import { readPackEntries } from '../../src/repository/pack-reader.js';
import { CHUNK, filesUnder, newRepo, tempDir } from './helpers.js';

/** Chunks in the test repository's READ_RUN_BYTES (64 KiB chunks): two whole runs and 8 more (the test reverses each 8). */
const RUN = READ_RUN_BYTES / CHUNK;
const COUNT = 2 * RUN + 8;

/** Half random, half text: zstd stores it compressed. */
function compressible(i: number): Buffer {
  const text = Buffer.from(`line ${i} of a chunk that compresses well\n`.repeat(CHUNK));
  return Buffer.concat([randomBytes(CHUNK / 2), text]).subarray(0, CHUNK);
}

const kinds: Record<string, { open(): Promise<Repository>; data(i: number): Buffer }> = {
  'raw blobs (read in place)': { open: newRepo, data: () => randomBytes(CHUNK) },
  'compressed blobs': { open: newRepo, data: compressible },
  'encrypted blobs': {
    open: async () =>
      openRepository({ path: join(await tempDir(), 'enc'), create: true, chunkSize: CHUNK, encrypt: true, passphrase: 'runs', kdf: { N: 1024, r: 8, p: 1 } }),
    data: () => randomBytes(CHUNK),
  },
};

/** The direct reads of packs a call makes: byte counts. */
function spyReads(): number[] {
  const lengths: number[] = [];
  const real = PackReadCache.prototype.readDirect;
  vi.spyOn(PackReadCache.prototype, 'readDirect').mockImplementation(function (this: PackReadCache, file, offset, length, take) {
    lengths.push(length);
    return real.call(this, file, offset, length, take);
  });
  return lengths;
}

/** The blobs of each CodecPool.openAll call (one task on the codec pool each). */
function spyOpenAll(): number[] {
  const sizes: number[] = [];
  const real = CodecPool.prototype.openAll;
  vi.spyOn(CodecPool.prototype, 'openAll').mockImplementation(function (this: CodecPool, items, keys, mode) {
    sizes.push(items.length);
    return real.call(this, items, keys, mode);
  });
  return sizes;
}

/**
 * The buffers SharedBuffers hands out and gets back, in order; `refuse(bytes)` true makes that take
 * throw instead (memory that cannot be had).
 */
function spyBuffers(refuse: (bytes: number) => boolean = () => false): { taken: Buffer[]; given: Buffer[] } {
  const taken: Buffer[] = [];
  const given: Buffer[] = [];
  const take = SharedBuffers.prototype.take;
  const give = SharedBuffers.prototype.give;
  vi.spyOn(SharedBuffers.prototype, 'take').mockImplementation(function (this: SharedBuffers, bytes) {
    if (refuse(bytes)) throw new RangeError('no memory for a chunk buffer');
    const b = take.call(this, bytes);
    taken.push(b);
    return b;
  });
  vi.spyOn(SharedBuffers.prototype, 'give').mockImplementation(function (this: SharedBuffers, b) {
    given.push(b);
    give.call(this, b);
  });
  return { taken, given };
}

/** Every buffer taken went back exactly once, and nothing else did. */
function expectEachGivenBackOnce({ taken, given }: { taken: Buffer[]; given: Buffer[] }): void {
  expect(taken.length).toBeGreaterThan(0);
  expect(given.length).toBe(taken.length);
  for (const b of taken) expect(given.filter((g) => g === b)).toHaveLength(1);
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** Stores `count` chunks in order, as a backup of one disk does; their ids and bytes. */
async function store(repo: Repository, data: (i: number) => Buffer, count = COUNT): Promise<Array<{ id: string; data: Buffer }>> {
  const out = [];
  for (let i = 0; i < count; i++) {
    const d = data(i);
    out.push({ id: (await repo.putChunk(d)).id!, data: d });
  }
  await repo.flush();
  return out;
}

/** Settles every lease of a leaseChunks call: the data of each (a copy) or its error; all released. */
async function settle(leases: Array<Promise<{ data: Buffer; release(): void }>>): Promise<Array<Buffer | Error>> {
  return Promise.all(
    leases.map((p) =>
      p.then(
        (l) => {
          const copy = Buffer.from(l.data);
          l.release();
          return copy;
        },
        (e: unknown) => e as Error,
      ),
    ),
  );
}

/** Whether a settled lease holds `want` (toEqual compares a Buffer byte by byte, 100 times slower). */
function holds(got: Buffer | Error, want: Buffer): boolean {
  return got instanceof Buffer && got.equals(want);
}

async function packOf(repo: Repository): Promise<string> {
  const packs = await filesUnder(join(repo.path, 'packs'));
  expect(packs).toHaveLength(1);
  return packs[0];
}

/** A repository of one pack of RUN random chunks, and where chunk i's blob is in it. */
async function oneRun() {
  const repo = await newRepo();
  const chunks = await store(repo, () => randomBytes(CHUNK), RUN);
  const pack = await packOf(repo);
  const { entries } = await readPackEntries(pack, repo.chunks.format);
  return { repo, chunks, pack, at: (i: number) => entries.find((x) => x.id === chunks[i].id)! };
}

describe('leaseChunks: chunks stored end to end are read together', () => {
  for (const [kind, { open, data }] of Object.entries(kinds)) {
    it(`${kind}: one read per READ_RUN_BYTES of blobs, in pack order whatever the order asked, every chunk whole`, async () => {
      const repo = await open();
      const chunks = await store(repo, data);
      const { entries } = await readPackEntries(await packOf(repo), repo.chunks.format);
      // the order of a backup whose codec pool finished chunks out of order: each run of 8 reversed
      const order = chunks.map((_, i) => i - (i % 8) + 7 - (i % 8)).filter((i) => i < COUNT);
      expect(order.slice().sort((a, b) => a - b)).toEqual(chunks.map((_, i) => i));
      const reads = spyReads();
      const tasks = spyOpenAll();
      const got = await settle(repo.leaseChunks([...order.map((i) => chunks[i].id), chunks[2].id]));
      got.forEach((d, k) => expect(holds(d, k < COUNT ? chunks[order[k]].data : chunks[2].data), `chunk ${k < COUNT ? order[k] : 2}`).toBe(true));
      // blobs lie end to end: as few reads as READ_RUN_BYTES allows, then one more for the repeated chunk
      const stored = entries.reduce((n, e) => n + e.length, 0);
      const biggest = Math.max(...entries.map((e) => e.length));
      const limit = READ_RUN_BYTES + READ_RUN_SLACK;
      expect(reads.length).toBeLessThanOrEqual(Math.ceil(stored / (limit - biggest)) + 1);
      expect(reads.length).toBeGreaterThanOrEqual(Math.ceil(stored / limit) + 1);
      for (const n of reads) expect(n).toBeLessThanOrEqual(limit);
      // every read is a run whose blobs are checked in one codec task, or one chunk read alone
      expect(tasks.reduce((a, b) => a + b, 0) + (reads.length - tasks.length)).toBe(COUNT + 1);
      await repo.close();
    });

    it(`${kind}: READ_RUN_BYTES of chunks are one read, each blob with its checksum or tag besides`, async () => {
      const repo = await open();
      const chunks = await store(repo, data, RUN);
      const reads = spyReads();
      const got = await settle(repo.leaseChunks(chunks.map((c) => c.id)));
      got.forEach((d, k) => expect(holds(d, chunks[k].data), `chunk ${k}`).toBe(true));
      expect(reads).toHaveLength(1);
      await repo.close();
    });

    it(`${kind}: every buffer the reads take goes back once the chunks are released, and nothing else does`, async () => {
      const repo = await open();
      const chunks = await store(repo, data);
      const buffers = spyBuffers();
      const got = await settle(repo.leaseChunks(chunks.map((c) => c.id)));
      got.forEach((d, i) => expect(holds(d, chunks[i].data), `chunk ${i}`).toBe(true));
      // the same buffers, each once: a chunk opened in place gives back nothing of its own
      expectEachGivenBackOnce(buffers);
      await repo.close();
    });
  }

  for (const kind of ['compressed blobs', 'encrypted blobs']) {
    it(`${kind}: a run whose chunk buffer cannot be taken fails its chunks and gives back every buffer it took`, async () => {
      const { open, data } = kinds[kind];
      const repo = await open();
      const chunks = await store(repo, data);
      let chunkTakes = 0;
      // the third chunk buffer of the first run (a run's own buffer is larger than a chunk)
      const buffers = spyBuffers((bytes) => bytes === CHUNK && ++chunkTakes === 3);
      const got = await settle(repo.leaseChunks(chunks.map((c) => c.id)));
      const failed = got.filter((d) => d instanceof Error);
      expect(failed.length).toBeGreaterThan(0);
      for (const e of failed) expect((e as Error).message).toContain('no memory for a chunk buffer');
      got.forEach((d, i) => expect(d instanceof Error || holds(d, chunks[i].data), `chunk ${i}`).toBe(true));
      // the two chunk buffers taken before the failure go back too
      expectEachGivenBackOnce(buffers);
      await repo.close();
    });
  }

  it("keeps a chunk's memory its own until it is released, while later runs reuse the rest", async () => {
    const repo = await newRepo();
    const chunks = await store(repo, () => randomBytes(CHUNK), 3 * RUN);
    const first = await Promise.all(repo.leaseChunks(chunks.slice(0, RUN).map((c) => c.id)));
    const kept = first[RUN >> 1];
    for (const l of first) if (l !== kept) l.release();
    // the other runs are read into the memory given back (and fresh memory)
    for (const from of [RUN, 2 * RUN, 0, RUN]) {
      const again = await settle(repo.leaseChunks(chunks.slice(from, from + RUN).map((c) => c.id)));
      expect(again.every((d, k) => holds(d, chunks[from + k].data))).toBe(true);
    }
    expect(kept.data.equals(chunks[RUN >> 1].data)).toBe(true);
    kept.release();
    await repo.close();
  });

  it('a corrupt chunk inside a run fails alone, and only its copy is quarantined', async () => {
    const { repo, chunks, pack, at } = await oneRun();
    const e = at(10);
    const bytes = await readFile(pack);
    bytes[e.offset + 100] ^= 0x40;
    await writeFile(pack, bytes);
    const got = await settle(repo.leaseChunks(chunks.map((c) => c.id)));
    got.forEach((d, i) => {
      if (i === 10) expect(d).toMatchObject({ code: 'integrity_failed', message: expect.stringContaining('is corrupt') });
      else expect(holds(d, chunks[i].data), `chunk ${i}`).toBe(true);
    });
    expect(await readdir(join(repo.path, 'bad'))).toEqual([`${chunks[10].id}.${pack.split('/').at(-1)}`]);
    await repo.close();
  });

  it('a truncated pack: the chunks before the cut are read, those after it fail and are quarantined, each as a read of it alone does', async () => {
    const { repo, chunks, pack, at } = await oneRun();
    await truncate(pack, at(20).offset + 10);
    const got = await settle(repo.leaseChunks(chunks.map((c) => c.id)));
    got.forEach((d, i) => {
      if (i < 20) expect(holds(d, chunks[i].data), `chunk ${i}`).toBe(true);
      else expect(d, `chunk ${i}`).toMatchObject({ code: 'integrity_failed', message: expect.stringContaining('is truncated') });
    });
    expect(await readdir(join(repo.path, 'bad'))).toHaveLength(RUN - 20);
    await repo.close();
  });

  it('a deleted pack and an unknown chunk: each fails as missing, the rest are read', async () => {
    const repo = await newRepo();
    const one = await store(repo, () => randomBytes(CHUNK), 8);
    const two = await store(repo, () => randomBytes(CHUNK), 8);
    const packs = await filesUnder(join(repo.path, 'packs'));
    expect(packs).toHaveLength(2);
    for (const p of packs) if ((await readPackEntries(p, repo.chunks.format)).entries.some((e) => e.id === one[0].id)) await unlink(p);
    const unknown = 'ab'.repeat(32);
    const got = await settle(repo.leaseChunks([...one.map((c) => c.id), unknown, ...two.map((c) => c.id)]));
    got.slice(0, 8).forEach((d) => expect(d).toMatchObject({ code: 'integrity_failed', message: expect.stringContaining('is missing') }));
    expect(got[8]).toMatchObject({ code: 'integrity_failed', message: `chunk ${unknown} is missing (no pack holds it)` });
    got.slice(9).forEach((d, i) => expect(holds(d, two[i].data), `chunk ${i} of the second pack`).toBe(true));
    await repo.close();
  });

  it('a read the system refuses (EIO) fails its run and quarantines nothing: it says nothing about the copy', async () => {
    const repo = await newRepo();
    const chunks = await store(repo, () => randomBytes(CHUNK), 16);
    const real = PackReadCache.prototype.readDirect;
    vi.spyOn(PackReadCache.prototype, 'readDirect').mockImplementation(function (this: PackReadCache, file, offset, length, take) {
      if (length > CHUNK + 2 * DIRECT_ALIGN) return Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
      return real.call(this, file, offset, length, take);
    });
    const got = await settle(repo.leaseChunks(chunks.map((c) => c.id)));
    for (const d of got) expect(d).toMatchObject({ code: 'EIO' });
    expect(await readdir(join(repo.path, 'bad')).catch(() => [])).toEqual([]);
    await repo.close();
  });
});
