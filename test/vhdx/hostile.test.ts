import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readSync, truncateSync, writeSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import { createVhdx, openVhdx } from '../../src/vhdx/index.js';
import { sealStructure } from '../../src/vhdx/crc32c.js';
import { buildDifferencingChain, buildVhdxWithPendingLog } from '../helpers/vhdx-fixtures.js';
import { MiB, prng, tempDir } from './helpers.js';

const tmp = tempDir();
let good: string;

beforeAll(async () => {
  good = tmp.path('good.vhdx');
  await createVhdx(good, { virtualSize: 8 * MiB, blockSize: MiB });
  const img = await openVhdx(good, { writable: true });
  await img.write(0, Buffer.alloc(MiB, 1));
  await img.write(2 * MiB, Buffer.alloc(MiB, 2));
  await img.close();
});
afterAll(() => tmp.cleanup());

function patch(path: string, at: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, at);
  closeSync(fd);
}

function u64(lo: number, hi = 0): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(lo >>> 0, 0);
  b.writeUInt32LE(hi, 4);
  return b;
}

/** Copies the good file, applies `damage`, and returns the error openVhdx + a full read gives. */
async function failure(name: string, damage: (path: string) => void): Promise<Record<string, unknown>> {
  const p = tmp.path(name);
  copyFileSync(good, p);
  damage(p);
  try {
    const img = await openVhdx(p);
    try {
      await img.read(0, img.virtualSize);
    } finally {
      await img.close();
    }
  } catch (e) {
    expect(isHvsnapError(e)).toBe(true);
    return e as unknown as Record<string, unknown>;
  }
  throw new Error(`${name}: no error`);
}

const BAT = 3 * MiB;

describe('hostile input gives a typed error naming the structure and the offset', () => {
  it('truncated file', async () => {
    const e = await failure('trunc.vhdx', (p) => truncateSync(p, 3 * MiB + 4096));
    expect(e).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'bat' } });
    const e2 = await failure('trunc2.vhdx', (p) => truncateSync(p, 200 * 1024));
    expect(e2).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'file_identifier', offset: 0 } });
  });

  it('bad CRCs: one header is tolerated, both are not; a damaged region table 1 falls back to table 2', async () => {
    const one = tmp.path('h1.vhdx');
    copyFileSync(good, one);
    patch(one, 64 * 1024 + 100, Buffer.from([0xff]));
    const img = await openVhdx(one);
    expect((await img.read(0, 16))[0]).toBe(1);
    await img.close();
    const e = await failure('h12.vhdx', (p) => {
      patch(p, 64 * 1024 + 100, Buffer.from([0xff]));
      patch(p, 128 * 1024 + 100, Buffer.from([0xff]));
    });
    expect(e).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'header', offset: 64 * 1024 } });
    expect(String(e.message)).toMatch(/CRC-32C/);
    const r = await failure('rt.vhdx', (p) => {
      patch(p, 192 * 1024 + 20, Buffer.from([0xff]));
      patch(p, 256 * 1024 + 20, Buffer.from([0xff]));
    });
    expect(r).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'region_table', offset: 192 * 1024 + 4 } });
    const fallback = tmp.path('rt1.vhdx');
    copyFileSync(good, fallback);
    patch(fallback, 192 * 1024 + 20, Buffer.from([0xff]));
    const img2 = await openVhdx(fallback);
    expect((await img2.read(2 * MiB, 16))[0]).toBe(2);
    await img2.close();
  });

  it('BAT entries past the end of the file, into the headers, into the metadata region, overlapping, or reserved', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['past-eof', u64((4000 << 20) | 6), /past the end of the file/],
      ['into-headers', u64(6), /header section/],
      ['into-metadata', u64((2 << 20) | 6), /metadata region/],
      ['reserved-state', u64(4), /reserved payload state 4/],
    ];
    for (const [name, entry, msg] of cases) {
      const e = await failure(`${name}.vhdx`, (p) => patch(p, BAT + 8, entry));
      expect(e).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'bat', offset: BAT + 8 } });
      expect(String(e.message)).toMatch(msg);
    }
    // block 1 pointing at block 0's data
    const first = Buffer.alloc(8);
    const fd = openSync(good, 'r');
    readSync(fd, first, 0, 8, BAT);
    closeSync(fd);
    const e = await failure('overlap.vhdx', (p) => patch(p, BAT + 8, first));
    expect(e).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'bat', offset: BAT + 8 } });
    expect(String(e.message)).toMatch(/overlaps another block/);
  });

  it('absurd sizes in the metadata', async () => {
    // metadata items of our writer: file parameters at +64 KiB, virtual size at +64 KiB + 8
    const md = 2 * MiB + 64 * 1024;
    const big = await failure('vsize.vhdx', (p) => patch(p, md + 8, u64(0, 0x40000000)));
    expect(big).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'metadata', offset: md + 8 } });
    const bs = Buffer.alloc(4);
    bs.writeUInt32LE(3 * MiB);
    const e = await failure('bsize.vhdx', (p) => patch(p, md, bs));
    expect(e).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'metadata', offset: md } });
    // a log length of 3 GiB, with the header re-sealed so that the CRC is right
    const hl = await failure('loglen.vhdx', (p) => {
      for (const slot of [64 * 1024, 128 * 1024]) {
        const h = readFileSync(p).subarray(slot, slot + 4096);
        const copy = Buffer.from(h);
        copy.writeUInt32LE(3 * 1024 * MiB, 68);
        sealStructure(copy, 4);
        patch(p, slot, copy);
      }
    });
    expect(hl.code).toMatch(/vhdx_invalid|vhdx_unsupported/);
    expect(hl).toMatchObject({ context: { structure: expect.stringMatching(/region_table|log|header/) } });
  });
});

describe('hostile input, continued', () => {
  it('a BAT entry into the log, a metadata item outside its region, a log claiming a longer file', async () => {
    const intoLog = await failure('into-log.vhdx', (p) => patch(p, BAT + 8, u64((1 << 20) | 6)));
    expect(intoLog).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'bat', offset: BAT + 8 } });
    expect(String(intoLog.message)).toMatch(/overlaps the log/);
    // metadata table entry 0 (file parameters): offset field at +32+16
    const off = Buffer.alloc(4);
    off.writeUInt32LE(2 * MiB);
    const md = await failure('md-out.vhdx', (p) => patch(p, 2 * MiB + 48, off));
    expect(md).toMatchObject({ code: 'vhdx_invalid', context: { structure: 'metadata', offset: 2 * MiB + 48 } });
    const dirty = await buildVhdxWithPendingLog(tmp.path('dirty-trunc.vhdx'));
    // cut the file below the FlushedFileOffset its log records
    truncateSync(dirty.path, readFileSync(dirty.path).length - MiB);
    await expect(openVhdx(dirty.path)).rejects.toMatchObject({
      code: 'vhdx_invalid',
      context: { structure: 'log' },
      message: expect.stringMatching(/truncated/),
    });
  });
});

describe('fuzz: mutated valid files never crash, hang or escape as untyped errors', () => {
  it('300 seeded mutations of a dynamic file, a file with a pending log and a differencing child', async () => {
    const dir = tmp.path('fuzz');
    mkdirSync(dir);
    const dirty = await buildVhdxWithPendingLog(`${dir}/dirty.vhdx`);
    const chain = await buildDifferencingChain(dir, { depth: 1, virtualSize: 8 * MiB });
    const targets = [good, dirty.path, chain.top];
    // structure areas: identifier, both headers, both region tables, log, metadata table and items, BAT
    const areas: Array<[number, number, number | undefined]> = [
      [0, 16, undefined],
      [64 * 1024, 80, 64 * 1024],
      [128 * 1024, 80, 128 * 1024],
      [192 * 1024, 112, 192 * 1024],
      [MiB, 8192, undefined],
      [MiB + 128 * 1024, 16384, undefined],
      [2 * MiB, 256, undefined],
      [2 * MiB + 64 * 1024, 512, undefined],
      [3 * MiB, 256, undefined],
    ];
    const originals = targets.map((t) => readFileSync(t));
    const rand = prng(20261126);
    const outcomes = { ok: 0, typed: 0 };
    for (let i = 0; i < 300; i++) {
      const target = targets[i % targets.length];
      const work = `${dir}/work-${i % targets.length}.vhdx`;
      if (i < targets.length) copyFileSync(target, work);
      const original = originals[i % targets.length];
      const [start, len, sealAt] = areas[Math.floor(rand() * areas.length)];
      const at = start + Math.floor(rand() * len);
      const n = 1 + Math.floor(rand() * 4);
      const saved = original.subarray(at, at + n);
      const mutated = Buffer.from(saved);
      for (let k = 0; k < n; k++) mutated[k] = rand() < 0.3 ? 0xff : (rand() * 256) | 0;
      patch(work, at, mutated);
      // half the time re-seal the CRC so the mutation reaches the checks behind it
      let sealed: Buffer | undefined;
      if (sealAt !== undefined && rand() < 0.5) {
        const size = sealAt >= 192 * 1024 ? 64 * 1024 : 4096;
        sealed = Buffer.from(original.subarray(sealAt, sealAt + size));
        mutated.copy(sealed, at - sealAt, 0, Math.min(n, sealAt + size - at));
        sealStructure(sealed, 4);
        patch(work, sealAt, sealed);
      }
      try {
        const img = await openVhdx(work);
        try {
          await img.read(0, img.virtualSize);
          await img.allocatedRanges();
          outcomes.ok++;
        } finally {
          await img.close();
        }
      } catch (e) {
        if (!isHvsnapError(e)) throw new Error(`iteration ${i}: untyped error from ${target} mutated at ${at}: ${String(e)}`, { cause: e });
        expect(e.context.structure ?? e.context.file).toBeDefined();
        outcomes.typed++;
      }
      // restore
      patch(work, at, saved);
      if (sealAt !== undefined) {
        const size = sealAt >= 192 * 1024 ? 64 * 1024 : 4096;
        patch(work, sealAt, original.subarray(sealAt, sealAt + size));
      }
    }
    expect(outcomes.ok + outcomes.typed).toBe(300);
    expect(outcomes.typed).toBeGreaterThan(30);
    expect(outcomes.ok).toBeGreaterThan(30);
  });
});
