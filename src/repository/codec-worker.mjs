// The chunk codec of a repository: chunk ids, sealing (zstd, then AES-256-GCM) and opening of
// blobs. ONE implementation, run by the worker threads of codec-pool.ts (this file is a worker's
// entry: plain JavaScript, found through the package root like the PowerShell scripts, because a
// worker thread cannot load TypeScript) and imported by the same module for in-thread use.
//
// Every function reads its input from, and writes its output into, caller-given views (usually
// of SharedArrayBuffers shared with the main thread): no chunk is copied through a message.
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import zlib from 'node:zlib';
import { compress, decompress } from '@mongodb-js/zstd';

export const NONCE = 12;
export const TAG = 16;
/** Bytes of the checksum that ends an unencrypted blob of a version 3 pack ({@link crcOf}). */
export const CRC_BYTES = 4;
/** zstd level for chunks: 3 is zstd's default, within a few % of level 9's size on disk images at several times the speed. */
export const ZSTD_LEVEL = 3;
/** bytes of a chunk compressed first to judge whether the whole is worth compressing (8 windows spread over the chunk) */
const SAMPLE_WINDOWS = 8;
const SAMPLE_WINDOW = 4 * 1024;
/** a sample that does not shrink below this share is taken as incompressible: the chunk is stored raw without trying */
const SAMPLE_KEEP = 0.92;

/** @param {Uint8Array} u @returns {Buffer} */
function view(u) {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * The chunk id: lowercase hex SHA-256, or HMAC-SHA-256 under `macKey` (an encrypted repository).
 * @param {Uint8Array} data @param {Uint8Array | undefined} macKey @returns {string}
 */
export function idOf(data, macKey) {
  return (macKey ? createHmac('sha256', macKey) : createHash('sha256')).update(data).digest('hex');
}

/** @param {string} id @param {boolean} compressed */
function aadOf(id, compressed) {
  return Buffer.concat([Buffer.from(id, 'hex'), Buffer.from([compressed ? 1 : 0])]);
}

/** CRC-32 (IEEE, as zlib and gzip) tables for {@link crc32Portable}: 8 bytes a step. */
const [t0, t1, t2, t3, t4, t5, t6, t7] = (() => {
  const t = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k][n] = t[0][t[k - 1][n] & 0xff] ^ (t[k - 1][n] >>> 8);
  return t;
})();

/**
 * CRC-32 for a Node without zlib.crc32 (before 20.15): 8 bytes a step ("slicing-by-8", Intel's
 * method): 1.5-1.9 GiB/s on the bench VM against 0.46 a byte at a time, about SHA-256's speed there.
 * @param {Uint8Array} d @param {number} crc
 */
export function crc32Portable(d, crc) {
  let c = ~crc;
  let i = 0;
  const n = d.length;
  const end = n - (n % 8);
  for (; i < end; i += 8) {
    const a = c ^ (d[i] | (d[i + 1] << 8) | (d[i + 2] << 16) | (d[i + 3] << 24));
    c = t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^ t3[d[i + 4]] ^ t2[d[i + 5]] ^ t1[d[i + 6]] ^ t0[d[i + 7]];
  }
  for (; i < n; i++) c = t0[(c ^ d[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** zlib's CRC-32 (Node 20.15 and later; 6.5 GiB/s on the bench VM, SHA-256 1.9), else the portable one. */
export const crc32 = typeof zlib.crc32 === 'function' ? (/** @type {Uint8Array} */ d, /** @type {number} */ c) => zlib.crc32(d, c) : crc32Portable;

/**
 * The checksum that ends an unencrypted blob of a version 3 pack: CRC-32 of the chunk id, the
 * compression flag and the chunk's bytes (as a restore writes them: after decompression, so that it
 * checks the decompressor too). A restore checks it instead of hashing each chunk again (without
 * that hash a restore of the bench's 8 GiB disk took 27% less user CPU time): it finds a damaged blob (every burst of up to 32
 * bits, anything else but for one chance in 2^32) and a blob that is not this chunk's (the id is in
 * it). `verify --deep` still hashes every chunk. An encrypted blob has its GCM tag instead.
 * @param {string} id @param {boolean} compressed @param {Uint8Array} chunk
 */
export function crcOf(id, compressed, chunk) {
  return crc32(chunk, crc32(aadOf(id, compressed), 0));
}

/**
 * Order-0 entropy, in bits per byte, of the sample's windows at which {@link worthCompressing}
 * decides without compressing: at or above {@link SURELY_RANDOM}, the bytes are as good as uniform
 * (32 KiB of random bytes measure 7.99), which zstd cannot shrink (its literals are Huffman-coded:
 * order 0); at or below {@link SURELY_COMPRESSIBLE}, Huffman coding alone takes the sample below
 * {@link SAMPLE_KEEP} (7.36 bits). Between them, matches decide, and the sample is compressed.
 */
const SURELY_RANDOM = 7.9;
const SURELY_COMPRESSIBLE = 7;

/** @type {Uint32Array} */
const counts = new Uint32Array(256);

/**
 * The order-0 entropy in bits per byte of the windows of `raw` starting at `starts`, each `size` bytes.
 * @param {Buffer} raw @param {number[]} starts @param {number} size
 */
function entropyOf(raw, starts, size) {
  counts.fill(0);
  for (const at of starts) for (let i = at; i < at + size; i++) counts[raw[i]]++;
  const n = starts.length * size;
  let bits = 0;
  for (let b = 0; b < 256; b++) if (counts[b] > 0) bits -= counts[b] * Math.log2(counts[b] / n);
  return bits / n;
}

/**
 * Whether a chunk is worth compressing, judged from 8 windows of 4 KiB spread over it (a disk's
 * chunk mixes runs of data: one window would mislead). Their byte entropy settles most chunks
 * without compressing anything (see {@link SURELY_RANDOM}); the rest are compressed at level 1 and
 * must shrink below {@link SAMPLE_KEEP}. Incompressible data (encrypted or compressed files, media)
 * then costs a byte count per chunk: no compression, and no wait for libuv's thread pool, where
 * zstd runs behind the file reads of a backup (the copy step of a full backup of an 8 GiB lab disk,
 * mostly random data: 12.8-15.9 s against 14.4-17.6 s with a zstd pass per sample).
 * @param {Buffer} raw
 * @returns {boolean | Promise<boolean>}
 */
function worthCompressing(raw) {
  if (raw.length <= SAMPLE_WINDOWS * SAMPLE_WINDOW * 2) return true;
  const step = Math.floor((raw.length - SAMPLE_WINDOW) / (SAMPLE_WINDOWS - 1));
  const starts = Array.from({ length: SAMPLE_WINDOWS }, (_, i) => i * step);
  const entropy = entropyOf(raw, starts, SAMPLE_WINDOW);
  // a block repeated over the chunk has its bytes' entropy and still shrinks: identical windows go to zstd
  const repeats = () => starts.some((at, i) => i > 0 && raw.compare(raw, starts[0], starts[0] + SAMPLE_WINDOW, at, at + SAMPLE_WINDOW) === 0);
  if (entropy >= SURELY_RANDOM && !repeats()) return false;
  if (entropy <= SURELY_COMPRESSIBLE) return true;
  const sample = Buffer.allocUnsafe(SAMPLE_WINDOWS * SAMPLE_WINDOW);
  starts.forEach((at, i) => raw.copy(sample, i * SAMPLE_WINDOW, at, at + SAMPLE_WINDOW));
  return compress(sample, 1).then((c) => c.length < sample.length * SAMPLE_KEEP);
}

/** {@link worthCompressing}'s verdict for `raw`, and how it was reached (for tests). @param {Uint8Array} raw */
export async function compressionVerdict(raw) {
  const v = worthCompressing(view(raw));
  return { worth: await v, sampled: v instanceof Promise };
}

/**
 * Seals chunk `raw` (id `id`) into `out`: zstd when it shrinks the chunk by at least 1/64 (stored
 * raw otherwise, or when the sample says it will not), then with `encKey` AES-256-GCM under a
 * random 96-bit nonce with the id and the compression flag as additional data: `nonce | ciphertext | tag`;
 * without, and with `crc` (a version 3 pack), the bytes then their {@link crcOf} (little-endian).
 * `out` must hold raw.length + {@link NONCE} + {@link TAG} bytes.
 * @param {Uint8Array} rawIn @param {Uint8Array} outIn @param {string} id @param {Uint8Array | undefined} encKey @param {boolean} crc @param {number} [level]
 * @returns {Promise<{ length: number, compressed: boolean }>}
 */
export async function sealInto(rawIn, outIn, id, encKey, crc, level = ZSTD_LEVEL) {
  const raw = view(rawIn);
  const out = view(outIn);
  let payload = raw;
  let compressed = false;
  if (level > 0 && (await worthCompressing(raw))) {
    const packed = await compress(raw, level);
    if (packed.length < raw.length - (raw.length >> 6)) {
      payload = packed;
      compressed = true;
    }
  }
  if (!encKey) {
    payload.copy(out, 0);
    if (!crc) return { length: payload.length, compressed };
    out.writeUInt32LE(crcOf(id, compressed, raw), payload.length);
    return { length: payload.length + CRC_BYTES, compressed };
  }
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', encKey, nonce);
  c.setAAD(aadOf(id, compressed));
  nonce.copy(out, 0);
  let at = NONCE + cipherInto(c, payload, out.subarray(NONCE));
  at += c.final().copy(out, at);
  at += c.getAuthTag().copy(out, at);
  return { length: at, compressed };
}

/**
 * The chunk id of `raw` ({@link idOf}) and the chunk sealed into `out` ({@link sealInto}), in one
 * task: for a chunk that is most likely new, one trip to a worker instead of two.
 * @param {Uint8Array} rawIn @param {Uint8Array} outIn @param {Uint8Array | undefined} macKey @param {Uint8Array | undefined} encKey @param {boolean} crc
 * @returns {Promise<{ id: string, length: number, compressed: boolean }>}
 */
export async function idSealInto(rawIn, outIn, macKey, encKey, crc) {
  const id = idOf(rawIn, macKey);
  return { id, ...(await sealInto(rawIn, outIn, id, encKey, crc)) };
}

/** Bytes fed to a cipher per call: small outputs come from reused heap memory, not fresh pages (2-3x faster measured). */
const CIPHER_PIECE = 32 * 1024;

/**
 * Runs `input` through cipher `c` into `out`, a piece at a time; returns the bytes written.
 * @param {import('node:crypto').Cipher | import('node:crypto').Decipher} c @param {Buffer} input @param {Buffer} out
 */
function cipherInto(c, input, out) {
  let at = 0;
  for (let off = 0; off < input.length; off += CIPHER_PIECE) at += c.update(input.subarray(off, off + CIPHER_PIECE)).copy(out, at);
  return at;
}

/** @type {Buffer[]} */
const scratch = [];
/** A reusable buffer of `n` bytes (give it back with {@link giveScratch}). @param {number} n */
function takeScratch(n) {
  const b = scratch.pop();
  return b && b.length >= n ? b.subarray(0, n) : Buffer.allocUnsafeSlow(Math.max(n, 1 << 20)).subarray(0, n);
}
/** @param {Buffer} b */
function giveScratch(b) {
  if (scratch.length < 4) scratch.push(Buffer.from(b.buffer, b.byteOffset, b.buffer.byteLength - b.byteOffset));
}

/**
 * Opens stored blob `stored` of chunk `id` into `out` (rawLength bytes) and checks it: the GCM tag
 * with `encKey`, or without it the blob's {@link crcOf} when `mode.crc` (a version 3 pack); then
 * the length; and that the bytes hash to `id` (keyed by `macKey`) when `mode.ids`, or when neither
 * tag nor checksum vouches for the blob (an unencrypted version 2 pack). Returns undefined when
 * sound, else why not (the caller names the pack).
 * @param {Uint8Array} storedIn @param {Uint8Array} outIn @param {string} id @param {number} rawLength @param {boolean} compressed
 * @param {Uint8Array | undefined} encKey @param {Uint8Array | undefined} macKey @param {{ crc: boolean, ids: boolean }} mode
 * @returns {Promise<string | undefined>}
 */
export async function openInto(storedIn, outIn, id, rawLength, compressed, encKey, macKey, mode) {
  const stored = view(storedIn);
  const out = view(outIn);
  if (!encKey) {
    if (!mode.crc) return check(compressed ? await inflate(stored) : stored, out, id, rawLength, { macKey });
    if (stored.length < CRC_BYTES) return `it is ${stored.length} bytes, shorter than its checksum`;
    const payload = stored.subarray(0, stored.length - CRC_BYTES);
    const sum = { value: stored.readUInt32LE(payload.length), compressed };
    return check(compressed ? await inflate(payload) : payload, out, id, rawLength, mode.ids ? { macKey } : undefined, sum);
  }
  if (stored.length < NONCE + TAG) return `it is ${stored.length} bytes, shorter than nonce and tag`;
  const bodyLength = stored.length - NONCE - TAG;
  if (!compressed && bodyLength !== rawLength) return `it holds ${bodyLength} bytes, the index says ${rawLength}`;
  // decrypted straight into `out`, or (compressed) into scratch memory that is inflated from
  const plain = compressed ? takeScratch(bodyLength) : out;
  try {
    try {
      const d = createDecipheriv('aes-256-gcm', encKey, stored.subarray(0, NONCE));
      d.setAAD(aadOf(id, compressed));
      d.setAuthTag(stored.subarray(stored.length - TAG));
      cipherInto(d, stored.subarray(NONCE, stored.length - TAG), plain);
      d.final();
    } catch {
      return 'it fails authentication (tampered or damaged)';
    }
    // the tag binds the id (additional data): only the key's holder could have sealed these bytes under it
    return check(compressed ? await inflate(plain) : plain, out, id, rawLength, mode.ids ? { macKey } : undefined);
  } finally {
    if (compressed) giveScratch(plain);
  }
}

/**
 * {@link openInto} of each of `items`, one after another, in one task: the blobs of one read of a
 * pack (pack-chunk-read.ts `leaseRun`), for one message each way instead of one per blob. Returns
 * each item's problem, in order (undefined when sound).
 * @param {Array<{ stored: Uint8Array, out: Uint8Array, id: string, rawLength: number, compressed: boolean }>} items
 * @param {Uint8Array | undefined} encKey @param {Uint8Array | undefined} macKey @param {{ crc: boolean, ids: boolean }} mode
 * @returns {Promise<Array<string | undefined>>}
 */
export async function openAllInto(items, encKey, macKey, mode) {
  const problems = [];
  for (const x of items) problems.push(await openInto(x.stored, x.out, x.id, x.rawLength, x.compressed, encKey, macKey, mode));
  return problems;
}

/** zstd-decompressed `payload`, or undefined when it does not decompress. @param {Buffer} payload */
async function inflate(payload) {
  try {
    return await decompress(payload);
  } catch {
    return undefined;
  }
}

/**
 * Checks `raw` (length, its checksum when `sum` gives one, and, with `hash`, that it hashes to its
 * id under `hash.macKey`) and copies it into `out` unless it already is `out`.
 * @param {Buffer | undefined} raw @param {Buffer} out @param {string} id @param {number} rawLength
 * @param {{ macKey: Uint8Array | undefined } | undefined} hash @param {{ value: number, compressed: boolean }} [sum]
 */
function check(raw, out, id, rawLength, hash, sum) {
  if (!raw) return 'it does not decompress';
  if (raw.length !== rawLength) return `it holds ${raw.length} bytes, the index says ${rawLength}`;
  if (sum && crcOf(id, sum.compressed, raw) !== sum.value) return 'its checksum does not match (damaged, or not this chunk)';
  if (hash && idOf(raw, hash.macKey) !== id) return 'its content does not hash to its id';
  if (raw.buffer !== out.buffer || raw.byteOffset !== out.byteOffset) raw.copy(out, 0);
  return undefined;
}

/**
 * One task of the pool. Views are rebuilt from the SharedArrayBuffers and offsets of the message.
 * @param {any} m
 */
async function run(m) {
  const at = (/** @type {{ sab: SharedArrayBuffer, off: number, len: number }} */ r) => new Uint8Array(r.sab, r.off, r.len);
  if (m.op === 'id') return idOf(at(m.in), m.macKey);
  if (m.op === 'seal') return sealInto(at(m.in), at(m.out), m.id, m.encKey, m.crc, m.level);
  if (m.op === 'idseal') return idSealInto(at(m.in), at(m.out), m.macKey, m.encKey, m.crc);
  if (m.op === 'open') return { problem: await openInto(at(m.in), at(m.out), m.id, m.rawLength, m.compressed, m.encKey, m.macKey, m.mode) };
  if (m.op === 'openAll')
    return {
      problems: await openAllInto(
        m.items.map((/** @type {any} */ x) => ({ ...x, stored: at(x.in), out: at(x.out) })),
        m.encKey,
        m.macKey,
        m.mode,
      ),
    };
  throw new Error(`codec worker: unknown operation ${m.op}`);
}

// a worker started by codec-pool.ts (not any worker thread that imports this module)
if (parentPort && workerData?.hvsnapCodec === true) {
  const port = parentPort;
  port.on('message', (m) => {
    run(m).then(
      (result) => port.postMessage({ t: m.t, result }),
      (e) => port.postMessage({ t: m.t, error: e instanceof Error ? e.message : String(e) }),
    );
  });
}
