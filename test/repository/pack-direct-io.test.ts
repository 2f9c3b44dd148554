import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readPackEntries } from '../../src/repository/pack-reader.js';
import { filesUnder, newRepo, reopen } from './helpers.js';

/**
 * Packs are written past the page cache in whole pages (core/direct-io.ts), with a partial last page
 * kept staged; a read of the open pack writes that page through the page cache first, and it is
 * written again, direct, once more blobs complete it. Blob lengths here are never a multiple of a page.
 */
describe('pack writes past the page cache', () => {
  it('reads back every chunk, leased or copied, from the open pack between appends and after a reopen', async () => {
    const repo = await newRepo();
    const chunks: Array<{ id: string; data: Buffer }> = [];
    for (let i = 0; i < 40; i++) {
      // odd sizes: every staged tail ends off a page boundary
      const data = randomBytes(1000 + ((i * 7919) % 60_000));
      const put = await repo.putChunk(data);
      chunks.push({ id: put.id!, data });
      if (i % 5 === 4) {
        // a read of the open pack: its staged tail is written first, and appends go on after it
        const probe = chunks[(i * 3) % chunks.length];
        const lease = await repo.leaseChunk(probe.id);
        expect(lease.data.equals(probe.data)).toBe(true);
        lease.release();
        expect((await repo.getChunk(chunks[i].id)).equals(chunks[i].data)).toBe(true);
      }
    }
    await repo.flush();
    for (const c of chunks) {
      const lease = await repo.leaseChunk(c.id);
      expect(lease.data.equals(c.data), `chunk ${c.id}`).toBe(true);
      lease.release();
    }
    const again = await reopen(repo.path);
    for (const c of chunks) expect((await again.getChunk(c.id)).equals(c.data), `chunk ${c.id} after reopen`).toBe(true);
    // every sealed pack's trailer lists its chunks: the bytes after the last direct write are whole
    const listed = [];
    for (const pack of await filesUnder(join(repo.path, 'packs'))) listed.push(...(await readPackEntries(pack, repo.chunks.format)).entries.map((e) => e.id));
    expect(listed.sort()).toEqual(chunks.map((c) => c.id).sort());
  });
});

describe('pack writes overlap the appends (two staging buffers)', () => {
  /** 560 blobs of 40-65 KB (odd lengths; the test repository's chunks are at most 64 KiB): about 29 MB, three staging buffers of 8 MiB written while the next fills */
  const blobs = () => Array.from({ length: 560 }, (_, i) => randomBytes(40_001 + ((i * 7919) % 25_000)));

  it('reads back every chunk, with reads of the open pack while a buffer is being written', async () => {
    const repo = await newRepo();
    const chunks: Array<{ id: string; data: Buffer }> = [];
    for (const [i, data] of blobs().entries()) {
      chunks.push({ id: (await repo.putChunk(data)).id!, data });
      if (i % 200 === 199) {
        const probe = chunks[(i * 5) % chunks.length];
        const lease = await repo.leaseChunk(probe.id);
        expect(lease.data.equals(probe.data), `open-pack read of ${probe.id}`).toBe(true);
        lease.release();
      }
    }
    await repo.flush();
    const again = await reopen(repo.path);
    for (const c of chunks) expect((await again.getChunk(c.id)).equals(c.data), `chunk ${c.id} after reopen`).toBe(true);
    const listed = [];
    for (const pack of await filesUnder(join(repo.path, 'packs'))) listed.push(...(await readPackEntries(pack, repo.chunks.format)).entries.map((e) => e.id));
    expect(listed.sort()).toEqual(chunks.map((c) => c.id).sort());
  });

  it('a background write that fails is reported by the next call and made again, so no byte of the pack is lost', async () => {
    const repo = await newRepo();
    // the open pack's writes, as the writer makes them: the first background write of a staging buffer fails once
    const writer = (repo as unknown as { chunks: { writer: { open?: { direct: { write(b: Buffer, pos: number): Promise<void> } } } } }).chunks.writer;
    let failed = 0;
    let wrapped: object | undefined;
    const chunks: Array<{ id: string; data: Buffer }> = [];
    const errors: unknown[] = [];
    for (const data of blobs()) {
      const direct = writer.open?.direct;
      if (direct && direct !== wrapped) {
        wrapped = direct;
        const write = direct.write.bind(direct);
        direct.write = (b, pos) => (b.length >= 4 << 20 && failed++ === 0 ? Promise.reject(new Error('EIO: injected')) : write(b, pos));
      }
      const put = await repo.putChunk(data).catch((e: unknown) => errors.push(e));
      if (typeof put === 'object') chunks.push({ id: put.id!, data });
    }
    // the failure reached the append that needed the buffer next, once
    expect(errors.map((e) => (e as Error).message)).toEqual([expect.stringContaining('EIO: injected')]);
    await repo.flush();
    const again = await reopen(repo.path);
    for (const c of chunks) expect((await again.getChunk(c.id)).equals(c.data), `chunk ${c.id} after reopen`).toBe(true);
  });
});

describe('a pack being sealed', () => {
  it('counts as present and readable while its last bytes are written, never as truncated', async () => {
    const repo = await newRepo();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await repo.putChunk(randomBytes(5000 + i * 777))).id!);
    // the seal starts; checks made while it writes must not see a short file
    const flushed = repo.flush();
    const seen = [];
    for (let i = 0; i < 20; i++) {
      seen.push(await repo.hasChunk(ids[ids.length - 1]));
      await new Promise((r) => setImmediate(r));
    }
    await flushed;
    expect(seen.every(Boolean)).toBe(true);
    expect(await repo.hasChunk(ids[ids.length - 1])).toBe(true);
    for (const id of ids) expect((await repo.getChunk(id)).length).toBeGreaterThan(0);
  });
});
