import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createDifferencingVhdx, createVhdx, openVhdx, vhdxInfo, writeVhdxStream } from '../../src/vhdx/index.js';
import { setPayloadBlockState } from '../helpers/vhdx-fixtures.js';
import { describeWith, skipUnless } from '../helpers/requirements.js';
import { allBytes, MiB, qemuRaw, run, sha256, tempDir, tryRun } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const GiB = 1024 * MiB;
const noQemu = skipUnless('BAT states against qemu-img and qemu-io', { tools: ['qemu-img', 'qemu-io'] });

describe('BAT: every payload state, sector-bitmap entries between chunks', () => {
  it.skipIf(noQemu)('UNDEFINED, UNMAPPED (3 and draft 5), ZERO and NOT_PRESENT read as zeros, as qemu reads them', async () => {
    const f = tmp.path('states.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'subformat=dynamic,block_size=1M', f, '8M']);
    run('qemu-io', ['-f', 'vhdx', '-c', 'write -P 0x77 0 8M', f]);
    for (const [block, state] of [
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
      [5, 5],
    ])
      await setPayloadBlockState(f, block, state);
    const qemu = qemuRaw(f, tmp.path('states.raw'));
    const img = await openVhdx(f);
    const ours = await img.read(0, img.virtualSize);
    await img.close();
    expect(sha256(ours)).toBe(sha256(qemu));
    expect(allBytes(ours.subarray(MiB, 6 * MiB), 0)).toBe(true);
    expect(allBytes(ours.subarray(6 * MiB), 0x77)).toBe(true);
    const info = await vhdxInfo(f);
    expect(info.batStates).toEqual({ FULLY_PRESENT: 3, NOT_PRESENT: 1, UNDEFINED: 1, ZERO: 1, UNMAPPED: 1, UNMAPPED_V095: 1 });
  });

  it.skipIf(noQemu)('a 5 GiB qemu disk with 1 MiB blocks (chunk ratio 4096: a sector-bitmap entry sits at BAT index 4096)', async () => {
    const f = tmp.path('big-qemu.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'subformat=dynamic,block_size=1M', f, '5G']);
    // blocks 4095 and 4096 straddle the first chunk boundary
    run('qemu-io', ['-f', 'vhdx', '-c', `write -P 0x41 ${4 * GiB - 3 * MiB} 4M`, '-c', `write -P 0x42 ${5 * GiB - MiB} 1M`, f]);
    const img = await openVhdx(f);
    const a = await img.read(4 * GiB - 4 * MiB, 6 * MiB);
    expect(allBytes(a.subarray(0, MiB), 0)).toBe(true);
    expect(allBytes(a.subarray(MiB, 5 * MiB), 0x41)).toBe(true);
    expect(allBytes(a.subarray(5 * MiB), 0)).toBe(true);
    expect(allBytes(await img.read(5 * GiB - MiB, MiB), 0x42)).toBe(true);
    expect(await img.allocatedRanges()).toEqual([
      { offset: 4 * GiB - 3 * MiB, length: 4 * MiB },
      { offset: 5 * GiB - MiB, length: MiB },
    ]);
    await img.close();
  });

  it.skipIf(noQemu)('our 5 GiB disk written past the first chunk passes qemu-img check and reads back through qemu-io', async () => {
    const f = tmp.path('big-ours.vhdx');
    await createVhdx(f, { virtualSize: 5 * GiB, blockSize: MiB });
    const img = await openVhdx(f, { writable: true });
    await img.write(4 * GiB - 1000, Buffer.alloc(MiB, 0x51));
    await img.write(5 * GiB - 4096, Buffer.alloc(4096, 0x52));
    await img.close();
    expect(tryRun('qemu-img', ['check', f]).status).toBe(0);
    const io = run('qemu-io', [
      '-r',
      '-f',
      'vhdx',
      '-c',
      `read -P 0x51 ${4 * GiB - 1000} ${MiB}`,
      '-c',
      `read -P 0x52 ${5 * GiB - 4096} 4096`,
      '-c',
      `read -P 0 ${4 * GiB - 2 * MiB} ${2 * MiB - 1000}`,
      f,
    ]);
    expect(io).not.toMatch(/Pattern verification failed/);
  });

  it('a differencing child over 33 GiB with 4 KiB sectors writes sector bitmaps of two chunks (chunk ratio 32768)', async () => {
    const dir = tmp.path('big-diff');
    mkdirSync(dir);
    await createVhdx(`${dir}/p.vhdx`, { virtualSize: 33 * GiB, blockSize: MiB, logicalSectorSize: 4096 });
    const p = await openVhdx(`${dir}/p.vhdx`, { writable: true });
    await p.write(32 * GiB - MiB, Buffer.alloc(2 * MiB, 0x61));
    await p.close();
    await createDifferencingVhdx(`${dir}/c.avhdx`, { parentPath: `${dir}/p.vhdx` });
    const c = await openVhdx(`${dir}/c.avhdx`, { writable: true });
    await c.write(32 * GiB - 8192, Buffer.alloc(16384, 0x62));
    await c.close();
    const info = await vhdxInfo(`${dir}/c.avhdx`);
    expect(info.sectorBitmapBlocksPresent).toBe(2);
    expect(info.batStates.PARTIALLY_PRESENT).toBe(2);
    const r = await openVhdx(`${dir}/c.avhdx`);
    const got = await r.read(32 * GiB - 2 * MiB, 4 * MiB);
    await r.close();
    const want = Buffer.alloc(4 * MiB);
    want.fill(0x61, MiB, 3 * MiB);
    want.fill(0x62, 2 * MiB - 8192, 2 * MiB + 8192);
    expect(got.equals(want)).toBe(true);
  });
});

describeWith('4 KiB logical sectors (7-Zip is the oracle; qemu cannot read them)', { tools: ['7zz'] }, () => {
  for (const fixed of [false, true]) {
    it(`${fixed ? 'fixed' : 'dynamic'} disk written by the stream builder`, async () => {
      const f = tmp.path(`lss4k-${fixed}.vhdx`);
      const data = Buffer.alloc(6 * MiB);
      for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
      async function* source() {
        yield { offset: 0, data: data.subarray(0, 2 * MiB) };
        yield { offset: 4 * MiB, data: data.subarray(4 * MiB) };
      }
      await writeVhdxStream(f, { virtualSize: 6 * MiB, blockSize: 2 * MiB, logicalSectorSize: 4096, fixed, source: source() });
      const want = Buffer.from(data);
      want.fill(0, 2 * MiB, 4 * MiB);
      const seven = execFileSync('7zz', ['e', '-so', '-tvhdx', f], { maxBuffer: 64 * MiB, stdio: ['ignore', 'pipe', 'pipe'] });
      expect(sha256(seven)).toBe(sha256(want));
      const img = await openVhdx(f);
      expect(img.logicalSectorSize).toBe(4096);
      expect(sha256(await img.read(0, img.virtualSize))).toBe(sha256(want));
      await img.close();
      expect(run('7zz', ['l', '-tvhdx', f])).toMatch(fixed ? /fixed/i : /dynamic/i);
    });
  }
});
