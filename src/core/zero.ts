const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * True when every byte of `data` is zero. Compares against a shared zero buffer with memcmp
 * (Buffer.equals), which stops at the first non-zero byte: ~10 GB/s on zeros, instant on data.
 */
export function isAllZero(data: Uint8Array): boolean {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 0; off < buf.length; off += ZEROS.length) {
    const end = Math.min(off + ZEROS.length, buf.length);
    if (!buf.subarray(off, end).equals(ZEROS.subarray(0, end - off))) return false;
  }
  return true;
}

/** The page size of {@link nonZeroRuns}: the file systems' block, and direct I/O's alignment. */
export const ZERO_PAGE = 4096;

/**
 * The runs `[from, to)` of `data` made of pages (`page` bytes, the last one possibly shorter) that
 * hold a non-zero byte, in order; the all-zero pages between them are left out. A writer of a new
 * file writes only these and leaves the rest as holes, which read as zeros: as `qemu-img convert`
 * does by default (`-S 4k`), a partly filled chunk then costs only its data in writes. A page of
 * data is passed over at its first byte, so scanning costs next to nothing but on zeros.
 */
export function nonZeroRuns(data: Uint8Array, page = ZERO_PAGE): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let at = 0; at < data.length; at += page) {
    const end = Math.min(at + page, data.length);
    const zero = data[at] === 0 && data[end - 1] === 0 && isAllZero(data.subarray(at, end));
    if (!zero && start < 0) start = at;
    else if (zero && start >= 0) {
      runs.push([start, at]);
      start = -1;
    }
  }
  if (start >= 0) runs.push([start, data.length]);
  return runs;
}
