/** A small seeded PRNG (mulberry32): labs and their writes are reproducible from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` bytes of pseudo-random data (never all zeros), from the generator. */
export function randomBlock(rand: () => number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i + 4 <= length; i += 4) buf.writeUInt32LE((rand() * 4294967296) >>> 0, i);
  for (let i = length - (length % 4); i < length; i++) buf[i] = (rand() * 256) | 0;
  buf[0] |= 1;
  return buf;
}
