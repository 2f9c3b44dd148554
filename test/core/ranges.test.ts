import { describe, expect, it } from 'vitest';
import { chunksTouched, mergeRanges, rangesBytes } from '../../src/core/ranges.js';

describe('ranges', () => {
  it('merges overlapping and touching ranges, drops empty ones', () => {
    expect(
      mergeRanges([
        { offset: 10, length: 5 },
        { offset: 0, length: 10 },
        { offset: 30, length: 0 },
        { offset: 12, length: 10 },
      ]),
    ).toEqual([{ offset: 0, length: 22 }]);
    expect(
      rangesBytes([
        { offset: 0, length: 4 },
        { offset: 2, length: 4 },
        { offset: 100, length: 1 },
      ]),
    ).toBe(7);
  });
  it('lists each chunk a range touches once, clipped to the disk', () => {
    const mib = 1 << 20;
    expect(
      chunksTouched(
        [
          { offset: mib - 1, length: 2 },
          { offset: 5 * mib, length: 1 },
          { offset: 5 * mib + 10, length: 1 },
        ],
        mib,
        8 * mib,
      ),
    ).toEqual([0, 1, 5]);
    expect(chunksTouched([{ offset: 7 * mib, length: 10 * mib }], mib, 8 * mib)).toEqual([7]);
  });
});
