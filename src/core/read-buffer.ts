/** Page size of the page cache (bytes): file data is copied out of 4 KiB pages. */
const PAGE = 4096;
/** Where large allocations start within a page with glibc: mmap'd chunks carry a 16-byte header. */
const LIKELY_BASE = 16;

/** Bytes of slack a buffer needs so that {@link readSkew} can place a view in it. */
export const READ_SLACK = PAGE;

/**
 * Where in a fresh allocation (of `length` + {@link READ_SLACK} bytes) a view should start so that a
 * read from file position `filePos` into it is fast: see {@link allocReadBuffer}.
 */
export function readSkew(filePos: number): number {
  return ((((filePos % PAGE) + PAGE / 2 - LIKELY_BASE) % PAGE) + PAGE) % PAGE;
}

/**
 * A buffer of `length` bytes placed so that reading file bytes at `filePos` (and any position with the
 * same remainder mod 4 KiB) into it with one pread is fast.
 *
 * Why: the kernel copies page-cache pages to user memory with `rep movsb`, which on the AMD EPYC (FSRM)
 * measured here runs 3-5x slower when the destination lies a few bytes (measured: 4 to 28) past the
 * source's place in its 4 KiB page; 0 and 32 or more are fast. `Buffer.allocUnsafe(1 MiB)` on glibc is a
 * fresh mmap'd chunk that starts 16 bytes into a page, so every read at a 4 KiB-aligned file offset hits
 * the slow case: a 1 GiB sequential read into such a buffer took 0.68-0.84 s instead of 0.20-0.25 s.
 * This buffer starts 2 KiB away from the source's place in the page if the allocation starts at a page
 * or 16 bytes into one (mmap'd chunks); otherwise (a recycled heap chunk, placed at random) it is no
 * worse than a plain allocation. Costs 4 KiB of extra memory.
 *
 * @param length bytes
 * @param filePos the file (or virtual-disk) offset the buffer will usually be filled from; default 0
 * @param shared on a SharedArrayBuffer, so worker threads (the codec pool) can hash it in place
 */
export function allocReadBuffer(length: number, filePos = 0, shared = false): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`allocReadBuffer: length must be a non-negative integer (bytes), got ${length}`);
  const skew = readSkew(filePos);
  const whole = shared ? Buffer.from(new SharedArrayBuffer(length + PAGE)) : Buffer.allocUnsafeSlow(length + PAGE);
  return whole.subarray(skew, skew + length);
}
