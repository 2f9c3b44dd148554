import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { allocAlignedBuffer, allocAlignedShared, DIRECT_ALIGN, isAlignedMemory, openDirectWrites } from '../../src/core/direct-io.js';
import { acceptsDirectIo } from '../helpers/direct-io-probe.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hvsnap-direct-'));
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

/** Writes `pieces` ([position, buffer]) through openDirectWrites into a new file; returns its bytes and the stats. */
async function writeThrough(pieces: Array<[number, Buffer]>) {
  const path = join(dir, 'disk.img');
  const fh = await open(path, 'wx');
  const direct = await openDirectWrites(path, fh.fd);
  try {
    await Promise.all(pieces.map(([pos, buf]) => direct.write(buf, pos)));
  } finally {
    await direct.close();
    await fh.sync();
    await fh.close();
  }
  return { bytes: await readFile(path), stats: direct.stats };
}

function patterned(buf: Buffer, seed: number): Buffer {
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 31 + seed) & 0xff;
  return buf;
}

describe('direct I/O', () => {
  it('hands out page-aligned memory, plain and shared, and knows it from other memory', () => {
    const a = allocAlignedBuffer(100_000);
    expect(a.length).toBe(100_000);
    expect(isAlignedMemory(a)).toBe(true);
    expect(isAlignedMemory(a.subarray(DIRECT_ALIGN))).toBe(true);
    expect(isAlignedMemory(a.subarray(16))).toBe(false);
    const s = allocAlignedShared(70_000);
    expect(s.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(s.length).toBe(70_000);
    expect(isAlignedMemory(s)).toBe(true);
    expect(isAlignedMemory(Buffer.allocUnsafeSlow(1 << 20))).toBe(false);
    expect(() => allocAlignedBuffer(0)).toThrow(/positive integer/);
  });

  it('writes whole aligned pages past the page cache, the rest through the page cache, and the file holds every byte', async () => {
    const big = patterned(allocAlignedBuffer(3 * DIRECT_ALIGN + 100), 1); // a partial last page
    const off = patterned(Buffer.alloc(DIRECT_ALIGN), 2); // not aligned memory
    const atOdd = patterned(allocAlignedBuffer(DIRECT_ALIGN), 3); // aligned memory at an unaligned position
    const { bytes, stats } = await writeThrough([
      [0, big],
      [8 * DIRECT_ALIGN, off],
      [12 * DIRECT_ALIGN + 512, atOdd],
    ]);
    expect(bytes.subarray(0, big.length)).toEqual(big);
    expect(bytes.subarray(8 * DIRECT_ALIGN, 9 * DIRECT_ALIGN)).toEqual(off);
    expect(bytes.subarray(12 * DIRECT_ALIGN + 512, 13 * DIRECT_ALIGN + 512)).toEqual(atOdd);
    if (acceptsDirectIo(dir)) {
      expect(stats.fallback).toBeUndefined();
      expect(stats.directBytes).toBe(3 * DIRECT_ALIGN);
      expect(stats.bufferedBytes).toBe(100 + 2 * DIRECT_ALIGN);
    } else {
      expect(stats.fallback).toMatch(/O_DIRECT|EINVAL/);
      expect(stats.directBytes).toBe(0);
      expect(stats.bufferedBytes).toBe(big.length + 2 * DIRECT_ALIGN);
    }
  });

  it('goes through the page cache only when HVSNAP_DIRECT_IO=0, and says so', async () => {
    vi.stubEnv('HVSNAP_DIRECT_IO', '0');
    vi.resetModules();
    const fresh = await import('../../src/core/direct-io.js');
    const path = join(dir, 'off.img');
    const fh = await open(path, 'wx');
    const direct = await fresh.openDirectWrites(path, fh.fd);
    const data = patterned(fresh.allocAlignedBuffer(2 * DIRECT_ALIGN), 4);
    await direct.write(data, 0);
    await direct.close();
    await fh.close();
    expect(direct.stats).toEqual({ directBytes: 0, bufferedBytes: 2 * DIRECT_ALIGN, fallback: expect.stringMatching(/HVSNAP_DIRECT_IO=0/) });
    expect(await readFile(path)).toEqual(data);
  });

  it('never writes direct to a path that no longer names the file being written', async () => {
    const path = join(dir, 'a.img');
    const fh = await open(path, 'wx');
    await rm(path);
    await (await open(path, 'wx')).close(); // another file now has the name
    const direct = await openDirectWrites(path, fh.fd);
    await direct.write(patterned(allocAlignedBuffer(DIRECT_ALIGN), 5), 0);
    await direct.close();
    await fh.close();
    expect(direct.stats.directBytes).toBe(0);
    expect(direct.stats.fallback).toMatch(/no longer the file|O_DIRECT/);
    expect((await readFile(path)).length).toBe(0);
  });
});
