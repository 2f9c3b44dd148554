import { setTimeout as sleep } from 'node:timers/promises';
import { HvsnapError } from '../../src/core/errors.js';
import { createLimit } from '../../src/core/concurrency.js';
import type { VhdxFiles, VhdxSource } from '../../src/vhdx/types.js';

/**
 * The few SFTP calls host mode makes (ssh2's `SFTPWrapper` has them): open, stat, positional read,
 * close. Declared here so the proxy room does not depend on ssh2 and tests can count what is read.
 */
export interface SftpClient {
  open(path: string, flags: 'r', cb: (err: Error | null | undefined, handle: Buffer) => void): unknown;
  fstat(handle: Buffer, cb: (err: Error | null | undefined, stats: { size: number; isFile(): boolean }) => void): unknown;
  stat(path: string, cb: (err: Error | null | undefined, stats: { size: number; isFile(): boolean }) => void): unknown;
  read(
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    cb: (err: Error | null | undefined, bytesRead: number) => void,
  ): unknown;
  close(handle: Buffer, cb: (err: Error | null | undefined) => void): unknown;
}

export interface SftpFilesOptions {
  /** bytes per SFTP read request; OpenSSH's sftp-server answers at most 256 KiB (limits@openssh.com), default 64 KiB */
  requestBytes?: number;
  /** SFTP read requests in flight for this host, all files together; default 32 */
  requestsInFlight?: number;
  /** cap on bytes read from this host per second, all files together (policy.hostReadMBps); default none */
  bytesPerSec?: number;
  /** counts every byte the SFTP server returned */
  stats?: { bytesRead: number };
  signal?: AbortSignal;
}

const promised = <T>(fn: (cb: (err: Error | null | undefined, value: T) => void) => unknown, what: string, path: string): Promise<T> =>
  new Promise((resolve, reject) => fn((err, value) => (err ? reject(sftpError(err, what, path)) : resolve(value))));

function sftpError(err: Error & { code?: number }, what: string, path: string): HvsnapError {
  // SSH_FX_NO_SUCH_FILE = 2 (draft-ietf-secsh-filexfer-02, section 7)
  const notFound = err.code === 2;
  return new HvsnapError(notFound ? 'not_found' : 'transport_failed', `SFTP ${what} ${path}: ${err.message}`, {
    cause: err,
    retryable: !notFound,
    context: { path, step: 'copy' },
  });
}

/**
 * A {@link VhdxFiles} over one SFTP session: a large read is split into requests of `requestBytes`
 * sent together (SFTP answers each request in turn, so requests in flight are what make it fast
 * over a link with latency), bounded per host, and paced to `bytesPerSec` so a backup never takes
 * more of the host's disk than the policy allows.
 */
export function sftpFiles(sftp: SftpClient, opts: SftpFilesOptions = {}): VhdxFiles {
  const requestBytes = opts.requestBytes ?? 64 * 1024;
  const inFlight = createLimit(opts.requestsInFlight ?? 32);
  const pace = pacer(opts.bytesPerSec);
  const stat = (path: string) => promised<{ size: number; isFile(): boolean }>((cb) => sftp.stat(path, cb), 'stat', path);
  return {
    async exists(path) {
      try {
        return (await stat(path)).isFile();
      } catch (e) {
        if (e instanceof HvsnapError && e.code === 'not_found') return false;
        throw e;
      }
    },
    async open(path): Promise<VhdxSource> {
      const handle = await promised<Buffer>((cb) => sftp.open(path, 'r', cb), 'open', path);
      const st = await promised<{ size: number; isFile(): boolean }>((cb) => sftp.fstat(handle, cb), 'stat', path).catch(async (e) => {
        await promised<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)), 'close', path).catch(() => undefined);
        throw e;
      });
      if (!st.isFile()) throw new HvsnapError('input_invalid', `SFTP ${path} is not a regular file`, { context: { path } });
      const readOne = (buf: Uint8Array, at: number, length: number, pos: number) =>
        inFlight(async () => {
          if (opts.signal?.aborted) throw opts.signal.reason;
          await pace(length);
          const n = await promised<number>(
            (cb) => sftp.read(handle, Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), at, length, pos, cb),
            'read',
            path,
          );
          if (opts.stats) opts.stats.bytesRead += n;
          return n;
        });
      return {
        size: st.size,
        async read(buf, at, length, pos) {
          const end = Math.min(pos + length, st.size);
          if (end <= pos) return 0;
          const pieces: Array<Promise<number>> = [];
          for (let p = pos; p < end; p += requestBytes) pieces.push(readOne(buf, at + (p - pos), Math.min(requestBytes, end - p), p));
          const counts = await Promise.all(pieces);
          // a short answer inside the file means the server stopped early: report only the bytes before the gap
          let done = 0;
          for (let i = 0; i < counts.length; i++) {
            done += counts[i];
            if (counts[i] < Math.min(requestBytes, end - (pos + i * requestBytes))) break;
          }
          return done;
        },
        close: () => promised<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)), 'close', path),
      };
    },
  };
}

/** Paces callers to `bytesPerSec` in total: each reserves its share of time, in order of arrival. */
function pacer(bytesPerSec?: number): (bytes: number) => Promise<void> {
  let next = 0;
  return async (bytes) => {
    if (!bytesPerSec) return;
    const now = Date.now();
    const start = Math.max(now, next);
    next = start + (bytes * 1000) / bytesPerSec;
    if (start > now) await sleep(start - now);
  };
}
