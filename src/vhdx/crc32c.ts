/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as VHDX uses for headers, region tables and
 * log entries. Slice-by-8 tables; check value of "123456789" is 0xE3069283.
 */
const TABLES: Uint32Array[] = (() => {
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[0][n];
    for (let k = 1; k < 8; k++) {
      c = t[0][c & 0xff] ^ (c >>> 8);
      t[k][n] = c >>> 0;
    }
  }
  return t;
})();

/** CRC-32C of `data`, continuing from `crc` (pass the previous result to chain; start with 0). */
export function crc32c(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    c = t7[c & 0xff] ^ t6[(c >>> 8) & 0xff] ^ t5[(c >>> 16) & 0xff] ^ t4[c >>> 24] ^ t3[data[i + 4]] ^ t2[data[i + 5]] ^ t1[data[i + 6]] ^ t0[data[i + 7]];
  }
  for (; i < n; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of a structure whose 4-byte checksum field at `at` counts as zero. */
export function structureCrc(buf: Uint8Array, at: number): number {
  const zero = new Uint8Array(4);
  let c = crc32c(buf.subarray(0, at));
  c = crc32c(zero, c);
  return crc32c(buf.subarray(at + 4), c);
}

/** Computes and stores the checksum of a structure at `at` (little-endian). */
export function sealStructure(buf: Buffer, at: number): void {
  buf.writeUInt32LE(0, at);
  buf.writeUInt32LE(crc32c(buf), at);
}
