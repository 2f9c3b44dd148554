import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import { chunkId, hashChunk, isAllZero } from '../../src/repository/index.js';
import { codecPool } from '../../src/repository/codec-pool.js';
import { CRC_BYTES } from '../../src/repository/blob-codec.js';
import { readPackEntries } from '../../src/repository/pack-reader.js';
import { CHUNK, filesUnder, newRepo, reopen } from './helpers.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (isHvsnapError(e) ? e.code : String(e)),
  );
}

describe('hashChunk and isAllZero', () => {
  it('hashChunk is the lowercase hex SHA-256', () => {
    const data = randomBytes(1000);
    expect(hashChunk(data)).toBe(createHash('sha256').update(data).digest('hex'));
    expect(hashChunk(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('isAllZero finds a single set bit anywhere, in views at any offset and of any length', () => {
    for (const len of [1, 7, 4096, 1024 * 1024, 3 * 1024 * 1024 + 5]) {
      const buf = Buffer.alloc(len);
      expect(isAllZero(buf)).toBe(true);
      for (const at of [0, len >> 1, len - 1]) {
        buf[at] = 0x10;
        expect(isAllZero(buf)).toBe(false);
        buf[at] = 0;
      }
    }
    const big = Buffer.alloc(8192);
    big[10] = 1;
    expect(isAllZero(big.subarray(11))).toBe(true);
    expect(isAllZero(new Uint8Array(big.buffer, 8, 4))).toBe(false);
  });
});

describe('chunk store (packs)', () => {
  it('round-trips chunks, including a short last chunk, through one pack that lists them in its trailer', async () => {
    const repo = await newRepo();
    const full = randomBytes(CHUNK);
    const short = randomBytes(1000);
    const a = await repo.putChunk(full);
    const b = await repo.putChunk(short);
    expect(a).toMatchObject({ id: hashChunk(full), written: true });
    expect(b.written).toBe(true);
    expect((await repo.getChunk(a.id!)).equals(full)).toBe(true); // readable before it is flushed
    await repo.flush();
    expect((await repo.getChunk(b.id!)).equals(short)).toBe(true);
    expect(await repo.hasChunk(a.id!)).toBe(true);
    const packs = await filesUnder(join(repo.path, 'packs'));
    expect(packs).toHaveLength(1);
    const { entries } = await readPackEntries(packs[0], repo.chunks.format);
    expect(entries.map((e) => e.id)).toEqual([a.id, b.id]);
    expect(await filesUnder(join(repo.path, 'index'))).toHaveLength(1);
  });

  it('compresses with zstd and keeps incompressible chunks raw', async () => {
    const repo = await newRepo();
    const text = Buffer.alloc(CHUNK, 'hvsnap compresses this line well. ');
    const noise = randomBytes(CHUNK);
    const t = await repo.putChunk(text);
    const n = await repo.putChunk(noise);
    expect(t.bytesWritten).toBeLessThan(CHUNK / 20);
    expect(n.bytesWritten).toBe(CHUNK + CRC_BYTES); // and its checksum
    await repo.flush();
    const reopened = await reopen(repo.path);
    expect((await reopened.getChunk(t.id!)).equals(text)).toBe(true);
    expect((await reopened.getChunk(n.id!)).equals(noise)).toBe(true);
  });

  it('stores a chunk once, however often it is put, also concurrently', async () => {
    const repo = await newRepo();
    const data = randomBytes(CHUNK);
    const results = await Promise.all(Array.from({ length: 24 }, () => repo.putChunk(Buffer.from(data))));
    expect(new Set(results.map((r) => r.id))).toEqual(new Set([hashChunk(data)]));
    expect(results.filter((r) => r.written)).toHaveLength(1);
    await repo.flush();
    const { entries } = await readPackEntries((await filesUnder(join(repo.path, 'packs')))[0], repo.chunks.format);
    expect(entries).toHaveLength(1);
    expect(await repo.putChunk(data)).toEqual({ id: hashChunk(data), written: false, bytesWritten: 0 });
  });

  it('does not store all-zero chunks', async () => {
    const repo = await newRepo();
    expect(await repo.putChunk(Buffer.alloc(CHUNK))).toEqual({ id: null, written: false, bytesWritten: 0 });
    expect(await repo.putChunk(new Uint8Array(17))).toEqual({ id: null, written: false, bytesWritten: 0 });
    await repo.flush();
    expect(await filesUnder(join(repo.path, 'packs'))).toHaveLength(0);
  });

  it('stores many different chunks put concurrently', async () => {
    const repo = await newRepo();
    const datas = Array.from({ length: 40 }, () => randomBytes(CHUNK));
    const results = await Promise.all(datas.map((d) => repo.putChunk(d)));
    expect(results.every((r) => r.written)).toBe(true);
    await repo.flush();
    const other = await reopen(repo.path);
    for (const [i, d] of datas.entries()) expect((await other.getChunk(results[i].id!)).equals(d)).toBe(true);
  });

  it('accepts a precomputed id and rejects a malformed one', async () => {
    const repo = await newRepo();
    const data = randomBytes(CHUNK);
    expect((await repo.putChunk(data, hashChunk(data))).id).toBe(hashChunk(data));
    expect(repo.chunkId(data)).toBe(chunkId(data));
    expect(await codeOf(repo.putChunk(data, 'ABC'))).toBe('input_invalid');
    expect(await codeOf(repo.putChunk(data, hashChunk(data).toUpperCase()))).toBe('input_invalid');
  });

  it('rejects empty and oversized chunks', async () => {
    const repo = await newRepo();
    expect(await codeOf(repo.putChunk(new Uint8Array(0)))).toBe('input_invalid');
    expect(await codeOf(repo.putChunk(randomBytes(CHUNK + 1)))).toBe('input_invalid');
  });

  it('reports a corrupt chunk as integrity_failed naming the pack, quarantines it, and stores a good copy on the next put', async () => {
    const repo = await newRepo();
    const data = randomBytes(CHUNK);
    const { id } = await repo.putChunk(data);
    await repo.flush();
    const [pack] = await filesUnder(join(repo.path, 'packs'));
    const bytes = await readFile(pack);
    bytes[100] ^= 0xff; // inside the blob
    await writeFile(pack, bytes);
    const corrupt = await repo.getChunk(id!).catch((e: unknown) => e);
    expect(isHvsnapError(corrupt) && corrupt.code === 'integrity_failed' && corrupt.message.includes(pack)).toBe(true);
    expect(await repo.hasChunk(id!)).toBe(false); // quarantined: never trusted again
    expect(await readdir(join(repo.path, 'bad'))).toEqual([`${id}.${pack.split('/').pop()}`]);
    // a second process sees the quarantine too
    expect(await (await reopen(repo.path)).hasChunk(id!)).toBe(false);
    const again = await repo.putChunk(data);
    expect(again).toMatchObject({ id, written: true });
    await repo.flush();
    expect((await (await reopen(repo.path)).getChunk(id!)).equals(data)).toBe(true);
    expect(await codeOf(repo.getChunk('../../etc/passwd'))).toBe('input_invalid');
  });

  it('finds a chunk in a deleted pack missing, and quarantines it', async () => {
    const repo = await newRepo();
    const { id } = await repo.putChunk(randomBytes(CHUNK));
    await repo.flush();
    const [pack] = await filesUnder(join(repo.path, 'packs'));
    await unlink(pack);
    const missing = await repo.getChunk(id!).catch((e: unknown) => e);
    expect(isHvsnapError(missing) && missing.code === 'integrity_failed' && missing.message.includes(pack)).toBe(true);
    expect(await repo.hasChunk(id!)).toBe(false);
  });
});

describe('putChunk without an id', () => {
  it('seals a new chunk in the same codec task as its id, and asks for the id first after a run of stored chunks', async () => {
    const repo = await newRepo();
    const pool = codecPool();
    const calls = { idSeal: vi.spyOn(pool, 'idSeal'), seal: vi.spyOn(pool, 'seal'), id: vi.spyOn(pool, 'id') };
    const count = () => Object.fromEntries(Object.entries(calls).map(([k, s]) => [k, s.mock.calls.length]));
    try {
      const fresh = Array.from({ length: 8 }, () => randomBytes(CHUNK));
      for (const d of fresh) expect((await repo.putChunk(d)).written).toBe(true);
      // new chunks: one task each, id and seal together
      expect(count()).toEqual({ idSeal: 8, seal: 0, id: 0 });
      // a run of stored chunks (a second full backup): the first few are sealed in vain, then ids come first
      for (const d of fresh) expect(await repo.putChunk(d)).toMatchObject({ id: chunkId(d), written: false });
      const afterStored = count();
      expect(afterStored.idSeal).toBeLessThan(16);
      expect(afterStored.id).toBeGreaterThan(0);
      expect(afterStored.seal).toBe(0);
      // a new chunk now: id first, then sealed (two tasks), and stored readable
      const late = randomBytes(CHUNK);
      const put = await repo.putChunk(late);
      expect(put).toMatchObject({ id: chunkId(late), written: true });
      expect(count().seal).toBe(1);
      await repo.flush();
      expect((await repo.getChunk(put.id!)).equals(late)).toBe(true);
      for (const d of fresh) expect((await repo.getChunk(chunkId(d))).equals(d)).toBe(true);
    } finally {
      for (const s of Object.values(calls)) s.mockRestore();
      await repo.close();
    }
  });
});

describe('unusableChunks', () => {
  it('names, in one pass, exactly the chunks has() denies: missing, known bad, in a truncated pack; not the open pack’s', async () => {
    const repo = await newRepo();
    try {
      const [a, b, c, d] = Array.from({ length: 4 }, () => randomBytes(CHUNK));
      const idOf = async (data: Buffer) => (await repo.putChunk(data)).id!;
      const ida = await idOf(a);
      await repo.flush();
      const idb = await idOf(b);
      const idc = await idOf(c);
      await repo.flush();
      const idd = await idOf(d); // stays in the open pack
      const packOf = (id: string) => repo.chunks.locate(id)!.packName;
      await repo.chunks.markBad(idb, packOf(idb), 'test');
      const packA = packOf(ida);
      await truncate(repo.chunks.packPath(packA), 10);
      const missing = createHash('sha256').update('never stored').digest('hex');
      const ids = [ida, null, idb, idc, missing, idd];
      expect(await repo.unusableChunks(ids)).toEqual([0, 2, 4]);
      expect(await repo.unusableChunks(ids, new Set([0, 4]))).toEqual([2]);
      // the same verdicts one chunk at a time, and the truncated pack's copy is quarantined
      const one = await Promise.all(ids.map(async (id, i) => (id !== null && !(await repo.hasChunk(id)) ? i : -1)));
      expect(one.filter((i) => i >= 0)).toEqual([0, 2, 4]);
      expect(repo.chunks.isBad(ida, packA)).toBe(true);
      expect(repo.chunks.locate(ida)).toBeUndefined();
    } finally {
      await repo.close();
    }
  });

  it('sizes each pack of a fresh process once, several at once, before settling the chunks in them', async () => {
    const first = await newRepo();
    const ids: string[] = [];
    for (let p = 0; p < 6; p++) {
      ids.push((await first.putChunk(randomBytes(CHUNK))).id!, (await first.putChunk(randomBytes(CHUNK))).id!);
      await first.flush(); // a pack per pair
    }
    await first.close();
    // a new process knows no pack's size: the first check meets every pack
    const repo = await reopen(first.path);
    const store = repo.chunks as unknown as { sizePack(name: string): Promise<number> };
    const size = store.sizePack.bind(store);
    const sized: string[] = [];
    let running = 0;
    let peak = 0;
    const spy = vi.spyOn(store, 'sizePack').mockImplementation(async (name) => {
      sized.push(name);
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 5));
      try {
        return await size(name);
      } finally {
        running--;
      }
    });
    try {
      expect(await repo.unusableChunks(ids)).toEqual([]);
      expect(sized.sort()).toEqual([...new Set(ids.map((id) => repo.chunks.locate(id)!.packName))].sort());
      expect(sized).toHaveLength(6);
      expect(peak).toBeGreaterThan(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('looks a chunk up again after sizing packs: a copy quarantined meanwhile is unusable', async () => {
    const first = await newRepo();
    const ids: string[] = [];
    for (let p = 0; p < 2; p++) {
      ids.push((await first.putChunk(randomBytes(CHUNK))).id!);
      await first.flush();
    }
    await first.close();
    const repo = await reopen(first.path);
    const store = repo.chunks as unknown as { sizePack(name: string): Promise<number> };
    const size = store.sizePack.bind(store);
    const packOf = (id: string) => repo.chunks.locate(id)!.packName;
    const bad = packOf(ids[0]);
    // a read finds the first chunk corrupt while its pack is being sized
    const spy = vi.spyOn(store, 'sizePack').mockImplementation(async (name) => {
      if (name === bad) await repo.chunks.markBad(ids[0], bad, 'found corrupt by a read');
      return size(name);
    });
    try {
      expect(await repo.unusableChunks(ids)).toEqual([0]);
    } finally {
      spy.mockRestore();
    }
  });

  it('names the position of an id that is not 64 lowercase hex digits', async () => {
    const repo = await newRepo();
    const id = (await repo.putChunk(randomBytes(CHUNK))).id!;
    await repo.flush();
    for (const bad of [id.toUpperCase(), id.slice(1), `${id}0`]) {
      const e = await repo.unusableChunks([id, null, bad]).catch((x: unknown) => x);
      expect(isHvsnapError(e) && e.code).toBe('input_invalid');
      expect((e as Error).message).toMatch(/^chunk 2 must be 64 lowercase hex digits/);
    }
  });
});
