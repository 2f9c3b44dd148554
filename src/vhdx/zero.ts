const ZEROS = Buffer.alloc(1024 * 1024);

/** True when every byte of `data` is 0 (memcmp against a shared zero page, 1 MiB at a time). */
export function isZero(data: Uint8Array): boolean {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  for (let at = 0; at < buf.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - at);
    if (!buf.subarray(at, at + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}
