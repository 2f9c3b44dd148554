import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { allocAlignedBuffer, O_DIRECT, writeFully } from '../../src/core/direct-io.js';
import { filesUnder } from './settle.js';

const fsRead = promisify(fs.read);
const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
const fsFsync = promisify(fs.fsync);

/** Bytes per read and per write. */
const PIECE = 1 << 20;
/**
 * Reads in flight; writes in flight. Together more than libuv's 4 threads, which then decide how
 * many run at once, as they do for hvsnap's restore.
 */
const READS = 8;
const WRITES = 4;

/** Opens `path` with O_DIRECT added where the platform and file system take it, else without. */
async function openDirect(path: string, flags: number): Promise<number> {
  if (O_DIRECT !== undefined) {
    try {
      return await fsOpen(path, flags | O_DIRECT);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
    }
  }
  return await fsOpen(path, flags);
}

/**
 * The restore's I/O and nothing else, as a reference for its time: every file under `dir` (a
 * repository's packs) read in 1 MiB pieces, 8 in flight, while `writeBytes` (the disk's data, which
 * the restore writes; by default as many as are read, rounded up to 1 MiB) are written to `out` (a
 * new file) in 1 MiB pieces, 4 in flight; both past the page cache where the file system allows
 * (as hvsnap's restore reads and writes), then `out` fsynced. No hashing, no decoding, no layout:
 * what moving the bytes durably costs a plain program. A reference, not a bound: a program that
 * moved them better would be faster (hvsnap's restore, with its larger writes, was, in the full
 * bench). Returns the bytes read.
 */
export async function moveBytes(dir: string, out: string, writeBytes?: number): Promise<number> {
  const files = await filesUnder(dir);
  const reads: Array<{ file: string; at: number }> = [];
  for (const file of files) {
    const { size } = await fs.promises.stat(file);
    for (let at = 0; at < size; at += PIECE) reads.push({ file, at });
  }
  const fd = await fsOpen(out, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL);
  const direct = await openDirect(out, fs.constants.O_WRONLY);
  const fds = new Map<string, Promise<number>>();
  let bytesRead = 0;
  let nextWrite = 0;
  const total = Math.ceil((writeBytes ?? reads.length * PIECE) / PIECE) * PIECE;
  try {
    const reader = async () => {
      const buf = allocAlignedBuffer(PIECE);
      for (let r = reads.shift(); r; r = reads.shift()) {
        let f = fds.get(r.file);
        if (!f) fds.set(r.file, (f = openDirect(r.file, fs.constants.O_RDONLY)));
        // counted after the read (`bytesRead += await ...` would add to the value read before it)
        const { bytesRead: n } = await fsRead(await f, buf, 0, PIECE, r.at);
        bytesRead += n;
      }
    };
    const writer = async () => {
      const buf = allocAlignedBuffer(PIECE).fill(0xa5);
      for (let at = nextWrite; at < total; at = nextWrite) {
        nextWrite += PIECE;
        await writeFully(direct, buf, at);
      }
    };
    await Promise.all([...Array.from({ length: READS }, reader), ...Array.from({ length: WRITES }, writer)]);
    await fsFsync(fd);
  } finally {
    for (const f of fds.values()) await f.then(fsClose, () => undefined);
    await fsClose(direct);
    await fsClose(fd);
  }
  return bytesRead;
}

// `node move-bytes.js <dir> <out> [bytes to write]`: the bench times it as a whole process, like the peers
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [dir, out, bytes] = process.argv.slice(2);
  const writeBytes = bytes === undefined ? undefined : Number(bytes);
  if (!dir || !out || (writeBytes !== undefined && !(Number.isSafeInteger(writeBytes) && writeBytes >= 0))) {
    process.stderr.write('usage: node move-bytes.js <dir to read> <new file to write> [bytes to write, default as many as read]\n');
    process.exit(2);
  }
  await moveBytes(dir, out, writeBytes);
}
