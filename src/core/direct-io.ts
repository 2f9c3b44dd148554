import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { DIRECT_ALIGN, isAlignedMemory } from './aligned-memory.js';

const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
const fsFstat = promisify(fs.fstat);

export { allocAlignedBuffer, allocAlignedShared, DIRECT_ALIGN, isAlignedMemory } from './aligned-memory.js';

/**
 * The O_DIRECT open flag, where the platform has one (Linux) and `HVSNAP_DIRECT_IO` is not `0`;
 * undefined otherwise, and every read and write then goes through the page cache.
 */
export const O_DIRECT: number | undefined = process.env.HVSNAP_DIRECT_IO === '0' ? undefined : (fs.constants as { O_DIRECT?: number }).O_DIRECT;

/** How the writes of one file went: bytes past the page cache, bytes through it, and why direct I/O stopped, if it did. */
export interface DirectWriteStats {
  directBytes: number;
  bufferedBytes: number;
  /** set when direct writes were not possible here (no O_DIRECT, another inode, EINVAL) */
  fallback?: string;
}

export interface DirectWrites {
  /** Writes all of `buf` at byte `pos`: past the page cache when position, length and memory allow, else through `fd`. */
  write(buf: Buffer, pos: number): Promise<void>;
  /** Closes the direct descriptor (not `fd`); the caller still fsyncs and closes its own. */
  close(): Promise<void>;
  readonly stats: DirectWriteStats;
}

/**
 * `path` opened a second time with O_DIRECT added to `flags`, when it still names the file `of`
 * describes (the caller's own descriptor): its descriptor, or why there is none (no O_DIRECT here,
 * the file system refused the open, or another file is at `path` now). The caller then uses the page cache.
 */
export async function openDirectTwin(path: string, flags: number, of: fs.Stats): Promise<{ fd: number } | { why: string }> {
  if (O_DIRECT === undefined) return { why: 'no O_DIRECT on this platform, or HVSNAP_DIRECT_IO=0' };
  let fd: number;
  try {
    fd = await fsOpen(path, flags | O_DIRECT);
  } catch (e) {
    return { why: `O_DIRECT refused: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  const st = await fsFstat(fd).catch(() => undefined);
  if (st && st.dev === of.dev && st.ino === of.ino) return { fd };
  await fsClose(fd).catch(() => undefined);
  return { why: `${path} is no longer the file opened` };
}

/** Writes all of `buf` at byte `pos` of `fd` (a short write goes on with the rest). */
export function writeFully(fd: number, buf: Uint8Array, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void =>
      fs.write(fd, buf, done, buf.length - done, pos + done, (e, n) => {
        if (e) reject(e);
        else if (done + n < buf.length) step(done + n);
        else resolve();
      });
    step(0);
  });
}

/**
 * Writes of a large new file (a restored disk) that bypass the page cache where they can: a second
 * descriptor on the same file, opened with O_DIRECT, takes every write whose position, length and
 * memory ({@link allocAlignedBuffer}) are page-aligned; the rest (headers, a partial last sector) go
 * through `fd`. The two never write the same bytes, and the caller's fsync of `fd` makes both durable.
 *
 * Why: a restore writes each byte once and never reads it back, so the page cache only costs. On the
 * VM the bench runs on, buffered writes of 2 GiB into fresh page-cache memory took 6.3-7.4 s (5-6 s of
 * system time) against 2.3-3.0 s direct (0.2 s), both fsynced (`dd bs=8M conv=fsync`, with and
 * without `oflag=direct`). Restore tools commonly write unbuffered for the same reason; qemu-img
 * offers it as `-t none`.
 *
 * Direct I/O is off where the platform has no O_DIRECT (Windows, macOS), where the file system
 * refuses it (tmpfs before Linux 6.6), when the path no longer names `fd`'s file, and after the first
 * direct write the kernel refuses (EINVAL): everything then goes through `fd`, and `stats.fallback`
 * says why.
 * @param path the file `fd` was opened (created) at
 * @param fd an open, writable descriptor of that file
 */
export async function openDirectWrites(path: string, fd: number): Promise<DirectWrites> {
  const stats: DirectWriteStats = { directBytes: 0, bufferedBytes: 0 };
  const opened = await openDirectTwin(path, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW, await fsFstat(fd));
  let direct = 'fd' in opened ? opened.fd : undefined;
  if ('why' in opened) stats.fallback = opened.why;
  let refused = false;
  const buffered = async (buf: Buffer, pos: number) => {
    await writeFully(fd, buf, pos);
    stats.bufferedBytes += buf.length;
  };
  return {
    stats,
    async write(buf, pos) {
      const head = direct !== undefined && !refused && pos % DIRECT_ALIGN === 0 && isAlignedMemory(buf);
      const length = head ? buf.length - (buf.length % DIRECT_ALIGN) : 0;
      if (length > 0) {
        try {
          await writeFully(direct!, buf.subarray(0, length), pos);
          stats.directBytes += length;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
          // the kernel wants another alignment, or the file system takes no direct writes after all:
          // later writes go through the page cache (the descriptor stays open for writes in flight)
          stats.fallback = 'a direct write was refused (EINVAL)';
          refused = true;
          await buffered(buf.subarray(0, length), pos);
        }
      }
      if (length < buf.length) await buffered(buf.subarray(length), pos + length);
    },
    async close() {
      const d = direct;
      direct = undefined;
      if (d !== undefined) await fsClose(d);
    },
  };
}
