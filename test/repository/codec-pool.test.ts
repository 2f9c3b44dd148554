import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CRC_BYTES } from '../../src/repository/blob-codec.js';
import { chunkId } from '../../src/repository/chunk-id.js';
import { CodecPool, codecWorkerFile, loadCodec, SEAL_OVERHEAD, sharedBuffer } from '../../src/repository/codec-pool.js';
import { bundleSource } from '../helpers/bundle-source.js';

/** 1 MiB that zstd shrinks about 2:1: 448 KiB random, then text (the bench's mixed disk). */
function mixedChunk(): Buffer {
  const b = Buffer.alloc(1 << 20);
  randomBytes(448 << 10).copy(b);
  b.fill('The quick brown fox jumps over the lazy dog 0123456789 ', 448 << 10);
  return b;
}

const keys = { enc: randomBytes(32), mac: randomBytes(32) };
/** How a restore opens blobs of a version 2 pack (no checksum: the id is hashed) and of a version 3 pack (its checksum or tag vouches). */
const V2 = { crc: false, ids: true };
const V3 = { crc: true, ids: false };

describe('the checksum of a blob (CRC-32)', () => {
  it("is zlib's CRC-32, and the portable one (Node before 20.15) agrees with it", async () => {
    const codec = await loadCodec();
    expect(codec.CRC_BYTES).toBe(CRC_BYTES); // blob-codec.ts's copy of the worker's constant
    expect(codec.crc32(Buffer.from('123456789'), 0)).toBe(0xcbf43926); // the standard check value
    expect(codec.crc32Portable(Buffer.from('123456789'), 0)).toBe(0xcbf43926);
    const data = randomBytes(100_003);
    expect(codec.crc32Portable(data, 0)).toBe(codec.crc32(data, 0));
    expect(codec.crc32Portable(data.subarray(500), codec.crc32Portable(data.subarray(0, 500), 0))).toBe(codec.crc32(data, 0));
  });
});

describe('whether a chunk is worth compressing', () => {
  /** 256 KiB of `fill(i)` per 4 KiB page `i`. */
  const pages = (fill: (i: number) => Buffer) => Buffer.concat(Array.from({ length: 64 }, (_, i) => fill(i)));
  const block = randomBytes(4096);
  it.each([
    ['random bytes: stored raw, nothing compressed', pages(() => randomBytes(4096)), { worth: false, sampled: false }],
    ['text: compressed, nothing sampled', pages(() => Buffer.alloc(4096, 'The quick brown fox jumps over the lazy dog ')), { worth: true, sampled: false }],
    ['random with a zero page in the sample: zstd decides', pages((i) => (i === 0 ? Buffer.alloc(4096) : randomBytes(4096))), { worth: true, sampled: true }],
    ['one random block repeated: zstd decides (and shrinks it)', pages(() => block), { worth: true, sampled: true }],
    ['the mixed disk (random, then text)', mixedChunk(), { worth: true, sampled: true }],
  ])('%s', async (_what, raw, verdict) => {
    const codec = (await import(pathToFileURL(codecWorkerFile()).href)) as {
      compressionVerdict(raw: Uint8Array): Promise<{ worth: boolean; sampled: boolean }>;
    };
    expect(await codec.compressionVerdict(raw)).toEqual(verdict);
  });
});

describe.each([
  ['worker threads', 2],
  ['the calling thread', 0],
])('CodecPool on %s', (_where, threads) => {
  const pool = new CodecPool(threads);
  afterAll(() => pool.close());

  it('gives the same chunk ids as chunkId, keyed and not, for shared and plain buffers', async () => {
    const data = randomBytes(300_000);
    const shared = sharedBuffer(data.length);
    data.copy(shared);
    expect(await pool.id(data)).toBe(chunkId(data));
    expect(await pool.id(shared)).toBe(chunkId(data));
    expect(await pool.id(shared, keys.mac)).toBe(chunkId(data, keys.mac));
    expect(chunkId(data, keys.mac)).not.toBe(chunkId(data));
  });

  it.each([
    ['incompressible, plain', randomBytes(1 << 20), undefined, false],
    ['mixed, plain', mixedChunk(), undefined, true],
    ['incompressible, encrypted', randomBytes(1 << 20), keys, false],
    ['mixed, encrypted', mixedChunk(), keys, true],
    ['small and compressible', Buffer.alloc(10_000, 'ab'), undefined, true],
  ])('seals and opens %s chunks byte for byte, in packs of version 2 and 3', async (_what, raw, k, shouldCompress) => {
    const id = chunkId(raw, k?.mac);
    for (const mode of [V2, V3]) {
      const out = sharedBuffer(raw.length + SEAL_OVERHEAD);
      const sealed = await pool.seal(raw, out, id, k?.enc, mode.crc);
      expect(sealed.compressed).toBe(shouldCompress);
      if (shouldCompress) expect(sealed.length).toBeLessThan(raw.length * 0.75);
      else expect(sealed.length).toBe(raw.length + (k ? SEAL_OVERHEAD : mode.crc ? 4 : 0));
      const stored = Buffer.from(out.subarray(0, sealed.length));
      if (k) expect(stored.includes(raw.subarray(0, 16))).toBe(false);
      const back = Buffer.alloc(raw.length);
      expect(await pool.open(stored, back, id, raw.length, sealed.compressed, k, mode)).toBeUndefined();
      expect(back.equals(raw)).toBe(true);
    }
  });

  it('a version 3 blob: a byte flipped anywhere (bytes or checksum), or the blob of another chunk, fails its checksum', async () => {
    for (const raw of [randomBytes(1 << 18), mixedChunk()]) {
      const id = chunkId(raw);
      const out = sharedBuffer(raw.length + SEAL_OVERHEAD);
      const sealed = await pool.seal(raw, out, id, undefined, true);
      const blob = Buffer.from(out.subarray(0, sealed.length));
      for (const at of [0, blob.length >> 1, blob.length - 5, blob.length - 1]) {
        const bad = Buffer.from(blob);
        bad[at] ^= 0x10;
        // a compressed blob may fail to decompress first, or decompress to other bytes, which its checksum (of the chunk) finds
        const why = sealed.compressed && at < blob.length - 4 ? /checksum does not match|does not decompress|holds \d+ bytes/ : /checksum does not match/;
        expect(await pool.open(bad, Buffer.alloc(raw.length), id, raw.length, sealed.compressed, undefined, V3), `byte ${at}`).toMatch(why);
      }
      const other = chunkId(randomBytes(64));
      expect(await pool.open(blob, Buffer.alloc(raw.length), other, raw.length, sealed.compressed, undefined, V3)).toMatch(/checksum does not match/);
      expect(await pool.open(blob.subarray(0, 3), Buffer.alloc(raw.length), id, raw.length, false, undefined, V3)).toMatch(/shorter than its checksum/);
    }
  });

  it("checks a compressed blob's checksum on the chunk it decompresses to, not on its stored bytes", async () => {
    const codec = await loadCodec();
    const [a, b] = [mixedChunk(), mixedChunk()];
    const id = chunkId(a);
    const out = sharedBuffer(b.length + SEAL_OVERHEAD);
    const sealed = await pool.seal(b, out, chunkId(b), undefined, true);
    expect(sealed.compressed).toBe(true);
    // b's compressed bytes under a's id, with a checksum of those stored bytes: sound zstd, the wrong chunk
    const blob = Buffer.from(out.subarray(0, sealed.length));
    blob.writeUInt32LE(codec.crcOf(id, true, blob.subarray(0, blob.length - 4)), blob.length - 4);
    expect(await pool.open(blob, Buffer.alloc(a.length), id, a.length, true, undefined, V3)).toMatch(/checksum does not match/);
  });

  it('hashes the chunk again with `ids`, or where nothing else vouches for it, and not where a checksum or tag does', async () => {
    // a blob its writer sealed under the wrong id: its checksum or tag is sound, its bytes are not that id's
    const raw = randomBytes(1 << 18);
    const wrongId = chunkId(randomBytes(64));
    for (const k of [undefined, keys]) {
      const out = sharedBuffer(raw.length + SEAL_OVERHEAD);
      const sealed = await pool.seal(raw, out, wrongId, k?.enc, true);
      const blob = Buffer.from(out.subarray(0, sealed.length));
      expect(await pool.open(blob, Buffer.alloc(raw.length), wrongId, raw.length, false, k, V3)).toBeUndefined();
      expect(await pool.open(blob, Buffer.alloc(raw.length), wrongId, raw.length, false, k, { crc: true, ids: true })).toMatch(/does not hash to its id/);
    }
    // a version 2 blob, unencrypted: the id is hashed whatever `ids` says
    expect(await pool.open(raw, Buffer.alloc(raw.length), wrongId, raw.length, false, undefined, { crc: false, ids: false })).toMatch(
      /does not hash to its id/,
    );
  });

  it('names what is wrong with a damaged blob: tag, content, length', async () => {
    const raw = mixedChunk();
    const id = chunkId(raw, keys.mac);
    const out = sharedBuffer(raw.length + SEAL_OVERHEAD);
    const sealed = await pool.seal(raw, out, id, keys.enc, true);
    const stored = Buffer.from(out.subarray(0, sealed.length));
    stored[stored.length >> 1] ^= 1;
    expect(await pool.open(stored, Buffer.alloc(raw.length), id, raw.length, sealed.compressed, keys, V3)).toMatch(/fails authentication/);

    const plain = randomBytes(4096);
    const wrong = Buffer.from(plain);
    wrong[7] ^= 0x80;
    expect(await pool.open(wrong, Buffer.alloc(4096), chunkId(plain), 4096, false, undefined, V2)).toMatch(/does not hash to its id/);
    expect(await pool.open(plain, Buffer.alloc(4000), chunkId(plain), 4000, false, undefined, V2)).toMatch(/holds 4096 bytes, the index says 4000/);
  });

  it.each([
    ['incompressible, plain', () => randomBytes(1 << 20), undefined],
    ['mixed, encrypted', mixedChunk, keys],
  ])('idSeal gives the id of chunkId and a blob that opens to the chunk (%s)', async (_what, make, k) => {
    const raw = make();
    const out = sharedBuffer(raw.length + SEAL_OVERHEAD);
    const r = await pool.idSeal(raw, out, k, true);
    expect(r.id).toBe(chunkId(raw, k?.mac));
    const back = Buffer.alloc(raw.length);
    expect(await pool.open(Buffer.from(out.subarray(0, r.length)), back, r.id, raw.length, r.compressed, k, V3)).toBeUndefined();
    expect(back.equals(raw)).toBe(true);
  });

  it('openAll opens several blobs in one task and names each one that is damaged, in order', async () => {
    const raws = [randomBytes(1 << 18), mixedChunk(), randomBytes(1 << 18), mixedChunk()];
    for (const [k, mode] of [
      [undefined, V2],
      [undefined, V3],
      [keys, V3],
    ] as const) {
      const items = [];
      for (const raw of raws) {
        const id = chunkId(raw, k?.mac);
        const sealed = sharedBuffer(raw.length + SEAL_OVERHEAD);
        const r = await pool.seal(raw, sealed, id, k?.enc, mode.crc);
        const stored = sealed.subarray(0, r.length);
        // a blob stored raw and unencrypted is checked in place
        items.push({
          stored,
          out: !k && !r.compressed ? stored.subarray(0, raw.length) : sharedBuffer(raw.length),
          id,
          rawLength: raw.length,
          compressed: r.compressed,
        });
      }
      items[2].stored[100] ^= 1;
      const tasks = (pool as unknown as { next: number }).next;
      const problems = await pool.openAll(items, k, mode);
      expect(problems.map((p) => p !== undefined)).toEqual([false, false, true, false]);
      expect(problems[2]).toMatch(k ? /fails authentication/ : mode.crc ? /checksum does not match/ : /does not hash to its id/);
      for (const i of [0, 1, 3]) expect(items[i].out.equals(raws[i]), `blob ${i}`).toBe(true);
      if (threads > 0) expect((pool as unknown as { next: number }).next - tasks).toBe(1);
    }
  });

  it('checks a blob stored raw in place, without a copy', async () => {
    const plain = sharedBuffer(1 << 20);
    randomBytes(1 << 20).copy(plain);
    expect(await pool.open(plain, plain, chunkId(plain), plain.length, false, undefined, V2)).toBeUndefined();
  });
});

describe('CodecPool workers', () => {
  it('run tasks on as many threads as asked, and a dead worker fails its task instead of hanging', async () => {
    const pool = new CodecPool(2);
    const data = Array.from({ length: 16 }, () => randomBytes(1 << 20));
    const ids = await Promise.all(data.map((d) => pool.id(d)));
    expect(ids).toEqual(data.map((d) => chunkId(d)));
    const workers = (pool as unknown as { workers: Array<{ worker: { terminate(): Promise<number> } }> }).workers;
    expect(workers.length).toBe(2);
    const pending = pool.id(randomBytes(1 << 20));
    await workers[0].worker.terminate();
    // the terminated worker's task (if it had it) is rejected; the pool goes on with a new worker
    const outcome = await pending.then(
      (id) => ({ id }),
      (e: Error) => ({ error: e.message }),
    );
    expect('id' in outcome ? outcome.id : outcome.error).toMatch(/^[0-9a-f]{64}$|codec worker stopped/);
    expect(await pool.id(data[0])).toBe(chunkId(data[0]));
    await pool.close();
  });

  it('gives each task its own result when a worker holds several and they finish out of order', async () => {
    // one worker, tasks queued two deep: a large compressible seal (slow) before small ids (fast)
    const pool = new CodecPool(1);
    try {
      const tasks = Array.from({ length: 40 }, (_, i) => {
        if (i % 4 === 0) {
          const raw = mixedChunk();
          const out = sharedBuffer(raw.length + SEAL_OVERHEAD);
          return pool.idSeal(raw, out, undefined, true).then((r) => ({ got: r.id, want: chunkId(raw) }));
        }
        const small = randomBytes(64);
        return pool.id(small).then((id) => ({ got: id, want: chunkId(small) }));
      });
      for (const t of await Promise.all(tasks)) expect(t.got).toBe(t.want);
    } finally {
      await pool.close();
    }
  });

  it('refuses a thread count that is not a whole number', () => {
    expect(() => new CodecPool(-1)).toThrow(/threads must be an integer >= 0/);
    expect(() => new CodecPool(1.5)).toThrow(/threads must be an integer >= 0/);
  });
});

describe('an idle pool', () => {
  it('lets the process exit once its work is done, warmed or used', async () => {
    // a process of its own: the pool bundled from the sources, so the codec worker is found from the package root as in production
    const dir = dirname(await bundleSource('src/repository/codec-pool.ts', 'codec-pool.mjs'));
    const script = (body: string) => `import { codecPool } from './codec-pool.mjs';\n${body}\n`;
    const runs = {
      // warmed and never used: the workers come online after warm() returns (a warmed pool kept a finished backup with nothing to copy alive)
      warmed: script(`codecPool().warm();`),
      used: script(`const pool = codecPool(); pool.warm(); console.log((await pool.id(new Uint8Array(10))).length);`),
    };
    for (const [name, body] of Object.entries(runs)) {
      const file = join(dir, `pool-exit-${name}.mjs`);
      await writeFile(file, body);
      const r = spawnSync(process.execPath, [file], { timeout: 20_000, encoding: 'utf8' });
      expect({ name, status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ name, status: 0, signal: null, stderr: '' });
    }
  }, 60_000);
});
