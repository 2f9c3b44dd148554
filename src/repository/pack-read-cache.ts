import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { DIRECT_ALIGN, O_DIRECT } from '../core/direct-io.js';
import { HvsnapError } from '../core/errors.js';
import { forEachLimit } from './fs-util.js';

const fsOpen = promisify(fs.open);
const fsRead = promisify(fs.read);
const fsClose = promisify(fs.close);
/**
 * Open pack files kept for reads, least recently used closed first. A restore point after many
 * incrementals reads, in disk order, from the full backup's packs and from every incremental's:
 * with 16 handles closed oldest-opened first, a restore of the 20th incremental of a lab disk
 * opened and closed a file for most of its chunks (1.1 s of the main thread).
 */
export const READ_FDS = 64;

/**
 * Reads into `buf` from byte `pos` of `fd` until at least `need` bytes are in (at most `buf.length`);
 * a file that ends first is a truncated pack (`integrity_failed`).
 */
async function readAtLeast(fd: number, buf: Buffer, need: number, pos: number, file: string): Promise<void> {
  for (let got = 0; got < need;) {
    const { bytesRead } = await fsRead(fd, buf, got, buf.length - got, pos + got);
    if (bytesRead === 0) throw new HvsnapError('integrity_failed', `pack ${file} ends before byte ${pos + need}`, { context: { file } });
    got += bytesRead;
  }
}

/** An open read handle: closed once evicted (or the cache closed) and no read holds it. */
interface Handle {
  fd: Promise<number>;
  users: number;
  evicted: boolean;
}

/** The pack files a {@link PackStore} (pack-store.ts) keeps open for reads, oldest closed first. */
export class PackReadCache {
  private readonly fds = new Map<string, Handle>();
  /** the same files opened with O_DIRECT, for {@link readDirect}; undefined once the file system refused it */
  private direct: Map<string, Handle> | undefined = O_DIRECT === undefined ? undefined : new Map();

  /**
   * `length` bytes of `file` at `offset`, read past the page cache: the whole pages around them, into
   * `take(bytes)` (page-aligned memory, see core/direct-io.ts), of which the result is a view. A restore
   * reads each blob once, so caching packs only costs (on the VM the bench runs on, a cold buffered
   * read of 2 GiB took 2.1-2.3 s, 1.8 s of it system time, against 1.3 s direct). Falls back to a
   * buffered read where the platform or file system has no direct I/O.
   */
  async readDirect(file: string, offset: number, length: number, take: (bytes: number) => Buffer): Promise<Buffer> {
    const start = offset - (offset % DIRECT_ALIGN);
    const end = Math.ceil((offset + length) / DIRECT_ALIGN) * DIRECT_ALIGN;
    const buf = take(end - start);
    const view = buf.subarray(offset - start, offset - start + length);
    const direct = this.direct;
    if (!direct) return this.readAt(file, offset, length, view);
    const h = this.hold(direct, file, fs.constants.O_RDONLY | O_DIRECT!);
    try {
      let fd: number;
      try {
        fd = await h.fd;
      } catch (e) {
        // no direct I/O on this file system (EINVAL); anything else (a missing pack) the buffered read reports
        if ((e as NodeJS.ErrnoException).code === 'EINVAL') this.direct = undefined;
        return await this.readAt(file, offset, length, view);
      }
      try {
        // whole pages asked for; the file may end inside the last one
        await readAtLeast(fd, buf, offset - start + length, start, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        // this file system (or this memory) takes no direct reads: buffered from now on
        this.direct = undefined;
        return await this.readAt(file, offset, length, view);
      }
      return view;
    } finally {
      this.release(h);
    }
  }

  /** `length` bytes of `file` at `offset`, into `buf` (its first `length` bytes) when given. */
  async readAt(file: string, offset: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    const h = this.hold(this.fds, file, fs.constants.O_RDONLY);
    try {
      const fd = await h.fd;
      if (buf.length !== length) buf = buf.subarray(0, length);
      await readAtLeast(fd, buf, length, offset, file);
      return buf;
    } finally {
      this.release(h);
    }
  }

  /**
   * A read handle of `file` in `handles` (opened with `flags`), held until {@link release}. The oldest
   * handle is evicted when there are too many; it closes once the reads holding it are done (closing
   * it under a read in flight failed that read with EBADF, or read another file reusing the number).
   */
  private hold(handles: Map<string, Handle>, file: string, flags: number): Handle {
    let h = handles.get(file);
    if (h) {
      // most recently used last: the map's order is the eviction order
      handles.delete(file);
      handles.set(file, h);
    } else {
      if (handles.size >= READ_FDS) {
        const [oldest, o] = handles.entries().next().value!;
        handles.delete(oldest);
        o.evicted = true;
        this.closeIfIdle(o);
      }
      const fresh: Handle = { fd: fsOpen(file, flags), users: 0, evicted: false };
      fresh.fd.catch(() => {
        if (handles.get(file) === fresh) handles.delete(file);
      });
      handles.set(file, fresh);
      h = fresh;
    }
    h.users++;
    return h;
  }

  private release(h: Handle): void {
    h.users--;
    this.closeIfIdle(h);
  }

  private closeIfIdle(h: Handle): void {
    if (h.evicted && h.users === 0) void h.fd.then(fsClose, () => undefined);
  }

  /** Closes the cached read handles (each once its reads are done). */
  async close(): Promise<void> {
    const all = [...this.fds.values(), ...(this.direct?.values() ?? [])];
    this.fds.clear();
    this.direct?.clear();
    const idle = all.filter((h) => h.users === 0);
    for (const h of all) if (h.users > 0) h.evicted = true;
    await forEachLimit(idle, 8, (h) => h.fd.then(fsClose, () => undefined));
  }
}
