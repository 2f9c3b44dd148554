import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createVhdx, openVhdx, writeVhdxStream } from '../../src/vhdx/index.js';
import { describeWith } from '../helpers/requirements.js';
import { allBytes, MiB, prng, qemuRaw, randomBytes, run, sha256, tempDir, tryRun } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function readAll(path: string, step = 3 * MiB + 512): Promise<Buffer> {
  const img = await openVhdx(path);
  try {
    const out = Buffer.alloc(img.virtualSize);
    for (let off = 0; off < img.virtualSize; off += step) {
      const n = Math.min(step, img.virtualSize - off);
      (await img.read(off, n)).copy(out, off);
    }
    return out;
  } finally {
    await img.close();
  }
}

describeWith('files made by qemu-img read identically through our reader', { tools: ['qemu-img', 'qemu-io'] }, () => {
  const cases = [
    { name: 'dynamic 1M blocks, BAT state ZERO', opts: 'subformat=dynamic,block_size=1M' },
    { name: 'dynamic 8M blocks, NOT_PRESENT', opts: 'subformat=dynamic,block_size=8M,block_state_zero=off' },
    { name: 'dynamic 32M blocks', opts: 'subformat=dynamic,block_size=32M' },
    { name: 'fixed 4M blocks', opts: 'subformat=fixed,block_state_zero=off,block_size=4M' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const f = tmp.path(`q-${cases.indexOf(c)}.vhdx`);
      run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', c.opts, f, '72M']);
      run('qemu-io', ['-f', 'vhdx', '-c', 'write -P 0xab 1M 64k', '-c', 'write -P 0x11 5000k 3000k', '-c', 'write -z 40M 1M', '-c', 'write -P 0xcd 71M 1M', f]);
      const expected = qemuRaw(f, tmp.path('q.raw'));
      const ours = await readAll(f);
      expect(sha256(ours)).toBe(sha256(expected));
      expect(ours[MiB]).toBe(0xab);
      const img = await openVhdx(f);
      const ranges = await img.allocatedRanges();
      await img.close();
      // everything outside the allocated ranges is zero in qemu's view
      let cursor = 0;
      for (const r of [...ranges, { offset: expected.length, length: 0 }]) {
        expect(allBytes(expected.subarray(cursor, r.offset), 0)).toBe(true);
        cursor = r.offset + r.length;
      }
    });
  }
});

describeWith('files we write pass qemu-img check and convert back identically', { tools: ['qemu-img'] }, () => {
  const cases = [
    { name: 'dynamic 1 MiB blocks', opts: { virtualSize: 48 * MiB, blockSize: MiB } },
    { name: 'dynamic 32 MiB blocks, odd size', opts: { virtualSize: 70 * MiB + 512 } },
    { name: 'fixed 2 MiB blocks', opts: { virtualSize: 20 * MiB, blockSize: 2 * MiB, fixed: true } },
    { name: 'dynamic 256 MiB blocks', opts: { virtualSize: 260 * MiB, blockSize: 256 * MiB } },
  ];
  for (const c of cases) {
    it(`random writes of any alignment: ${c.name}`, async () => {
      const f = tmp.path(`w-${cases.indexOf(c)}.vhdx`);
      await createVhdx(f, c.opts);
      expect(tryRun('qemu-img', ['check', f]).status).toBe(0);
      const size = c.opts.virtualSize;
      const shadow = Buffer.alloc(size);
      const rand = prng(cases.indexOf(c) + 1);
      const img = await openVhdx(f, { writable: true });
      for (let i = 0; i < 40; i++) {
        const len = 1 + Math.floor(rand() * (i % 4 === 0 ? MiB + 4096 : 9000));
        const off = Math.floor(rand() * (size - len));
        const data = randomBytes(rand, len);
        await img.write(off, data);
        data.copy(shadow, off);
      }
      // a write straddling a block boundary, and one at the very end
      const cross = randomBytes(rand, 5000);
      const boundary = (c.opts.blockSize ?? 32 * MiB) - 2500;
      if (boundary + 5000 <= size) {
        await img.write(boundary, cross);
        cross.copy(shadow, boundary);
      }
      await img.write(size - 7, Buffer.from('theend!'));
      shadow.write('theend!', size - 7);
      await img.flush();
      expect(sha256(await img.read(0, size))).toBe(sha256(shadow));
      await img.close();
      const check = tryRun('qemu-img', ['check', f]);
      expect(check.out).toContain('No errors');
      expect(check.status).toBe(0);
      expect(sha256(qemuRaw(f, tmp.path('w.raw')))).toBe(sha256(shadow));
      // reopened, read in odd-sized pieces (the big case once is enough)
      if (size < 100 * MiB) expect(sha256(await readAll(f))).toBe(sha256(shadow));
    });
  }

  it('writeVhdxStream builds a disk in one pass; zero chunks allocate nothing', async () => {
    const size = 40 * MiB;
    const shadow = Buffer.alloc(size);
    const rand = prng(7);
    async function* source() {
      for (let off = 0; off < size; off += 3 * MiB) {
        const n = Math.min(3 * MiB, size - off);
        // every third chunk all zeros, the others random
        const data = (off / (3 * MiB)) % 3 === 1 ? Buffer.alloc(n) : randomBytes(rand, n);
        data.copy(shadow, off);
        yield { offset: off, data };
      }
    }
    const f = tmp.path('stream.vhdx');
    const { fileSize } = await writeVhdxStream(f, { virtualSize: size, blockSize: MiB, source: source() });
    expect(readFileSync(f).length).toBe(fileSize);
    expect(tryRun('qemu-img', ['check', f]).status).toBe(0);
    expect(sha256(qemuRaw(f, tmp.path('s.raw')))).toBe(sha256(shadow));
    const img = await openVhdx(f);
    const ranges = await img.allocatedRanges();
    await img.close();
    const allocated = ranges.reduce((n, r) => n + r.length, 0);
    // 14 chunks of 3 MiB, every third zero: about 2/3 of the disk allocated
    expect(allocated).toBeLessThan(size);
    expect(allocated).toBeGreaterThanOrEqual(26 * MiB);
  });

  it('writeVhdxStream rejects chunks out of order, naming the offset', async () => {
    async function* source() {
      yield { offset: 2 * MiB, data: Buffer.alloc(10, 1) };
      yield { offset: MiB, data: Buffer.alloc(10, 1) };
    }
    await expect(writeVhdxStream(tmp.path('bad.vhdx'), { virtualSize: 4 * MiB, source: source() })).rejects.toMatchObject({
      code: 'input_invalid',
      context: { offset: MiB },
    });
  });

  it('createVhdx names the bad option', async () => {
    await expect(createVhdx(tmp.path('x.vhdx'), { virtualSize: 1000 })).rejects.toMatchObject({ code: 'input_invalid', context: { field: 'virtualSize' } });
    await expect(createVhdx(tmp.path('x.vhdx'), { virtualSize: MiB, blockSize: 3 * MiB })).rejects.toMatchObject({ context: { field: 'blockSize' } });
  });
});

describeWith('concurrent writes on one image', { tools: ['qemu-img'] }, () => {
  it('writes issued together into the same new blocks allocate each block once', async () => {
    const f = tmp.path('concurrent.vhdx');
    await createVhdx(f, { virtualSize: 16 * MiB, blockSize: MiB });
    const img = await openVhdx(f, { writable: true });
    const shadow = Buffer.alloc(16 * MiB);
    const rand = prng(99);
    const writes = Array.from({ length: 64 }, () => {
      const len = 4096 + Math.floor(rand() * 60000);
      const off = Math.floor(rand() * (16 * MiB - len));
      return { off, data: randomBytes(rand, len) };
    });
    await Promise.all(writes.map((w) => img.write(w.off, w.data)));
    for (const w of writes) w.data.copy(shadow, w.off);
    await img.close();
    expect(tryRun('qemu-img', ['check', f]).status).toBe(0);
    expect(sha256(qemuRaw(f, tmp.path('c.raw')))).toBe(sha256(shadow));
    // at most 16 blocks + metadata: no block allocated twice
    expect(readFileSync(f).length).toBeLessThanOrEqual(4 * MiB + 16 * MiB);
  });
});

describe('read accounting', () => {
  it('stats.fileBytesRead counts file bytes; unallocated blocks cost nothing', async () => {
    const f = tmp.path('stats.vhdx');
    await createVhdx(f, { virtualSize: 64 * MiB, blockSize: MiB });
    const w = await openVhdx(f, { writable: true });
    await w.write(10 * MiB, Buffer.alloc(MiB, 7));
    await w.close();
    const img = await openVhdx(f);
    const before = img.stats.fileBytesRead;
    await img.read(20 * MiB, 8 * MiB);
    expect(img.stats.fileBytesRead).toBe(before);
    await img.read(10 * MiB, MiB);
    expect(img.stats.fileBytesRead - before).toBe(MiB);
    expect(await img.allocatedRanges()).toEqual([{ offset: 10 * MiB, length: MiB }]);
    await img.close();
  });
});
