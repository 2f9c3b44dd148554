import { describe, expect, it } from 'vitest';
import { nonZeroRuns } from '../../src/core/zero.js';

/** `pages` pages of `page` bytes (the last `tail` bytes long), with one byte set in each page listed in `set` at `at`. */
function pagesWith(pages: number, set: number[], at: (page: number) => number, page = 4096, tail = page): Buffer {
  const buf = Buffer.alloc((pages - 1) * page + tail);
  for (const p of set) buf[p * page + at(p)] = 1;
  return buf;
}

describe('nonZeroRuns', () => {
  it('gives the runs of pages holding data, wherever in a page the data is', () => {
    for (const at of [() => 0, () => 4095, () => 1234, (p: number) => (p * 977) % 4096]) {
      expect(nonZeroRuns(pagesWith(8, [1, 2, 5], at))).toEqual([
        [4096, 3 * 4096],
        [5 * 4096, 6 * 4096],
      ]);
    }
  });

  it('keeps a last page shorter than a page, and treats a view at any offset as its own bytes', () => {
    const buf = pagesWith(3, [2], () => 99, 4096, 100);
    expect(nonZeroRuns(buf)).toEqual([[8192, 8192 + 100]]);
    const padded = Buffer.concat([Buffer.from([7, 7, 7]), buf]);
    expect(nonZeroRuns(padded.subarray(3))).toEqual([[8192, 8192 + 100]]);
    expect(nonZeroRuns(padded)).toEqual([
      [0, 4096],
      [8192, padded.length],
    ]);
  });

  it('gives nothing for zeros, one run for data without a zero page, and takes another page size', () => {
    expect(nonZeroRuns(Buffer.alloc(65536))).toEqual([]);
    expect(nonZeroRuns(Buffer.alloc(0))).toEqual([]);
    expect(nonZeroRuns(Buffer.alloc(65536, 0x5a))).toEqual([[0, 65536]]);
    expect(
      nonZeroRuns(
        pagesWith(4, [0, 3], () => 511, 512),
        { page: 512 },
      ),
    ).toEqual([
      [0, 512],
      [1536, 2048],
    ]);
  });

  it('writes zero stretches shorter than minHole with the data around them, and leaves out the longer ones', () => {
    const buf = pagesWith(12, [0, 3, 8, 11], () => 5);
    // zeros: pages 1-2 (8 KiB), 4-7 (16 KiB), 9-10 (8 KiB)
    expect(nonZeroRuns(buf, { minHole: 12 * 1024 })).toEqual([
      [0, 4 * 4096],
      [8 * 4096, 12 * 4096],
    ]);
    expect(nonZeroRuns(buf, { minHole: 8 * 1024 })).toEqual([
      [0, 4096],
      [3 * 4096, 4 * 4096],
      [8 * 4096, 9 * 4096],
      [11 * 4096, 12 * 4096],
    ]);
    expect(nonZeroRuns(buf, { minHole: 64 * 1024 })).toEqual([[0, 12 * 4096]]);
    // zeros at either end count the same way: pages 0-3 (16 KiB) and 5-7 (12 KiB)
    expect(
      nonZeroRuns(
        pagesWith(8, [4], () => 0),
        { minHole: 4 * 4096 },
      ),
    ).toEqual([[4 * 4096, 8 * 4096]]);
    expect(
      nonZeroRuns(
        pagesWith(8, [4], () => 0),
        { minHole: 3 * 4096 },
      ),
    ).toEqual([[4 * 4096, 5 * 4096]]);
  });
});
