import type { ByteRange } from './types.js';

/** Sorts and merges overlapping or touching ranges. Returns a new array; zero-length ranges are dropped. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges.filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else {
      out.push({ offset: r.offset, length: r.length });
    }
  }
  return out;
}

/** The indexes of the fixed-size chunks that the ranges touch, ascending, each once. */
export function chunksTouched(ranges: readonly ByteRange[], chunkSize: number, limit: number): number[] {
  const out: number[] = [];
  let next = 0;
  for (const r of mergeRanges(ranges)) {
    const first = Math.max(Math.floor(r.offset / chunkSize), next);
    const last = Math.min(Math.floor((r.offset + r.length - 1) / chunkSize), Math.ceil(limit / chunkSize) - 1);
    for (let i = first; i <= last; i++) out.push(i);
    next = Math.max(next, last + 1);
  }
  return out;
}

/** Total bytes covered by the ranges once merged. */
export function rangesBytes(ranges: readonly ByteRange[]): number {
  return mergeRanges(ranges).reduce((n, r) => n + r.length, 0);
}
