import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { DIRECT_ALIGN, O_DIRECT } from '../core/direct-io.js';
import { HvsnapError } from '../core/errors.js';
import { forEachLimit } from './fs-util.js';

const fsOpen = promisify(fs.open);
const fsRead = promisify(fs.read);
const fsClose = promisify(fs.close);
/** open pack files kept for reads (a restore reads a pack's chunks one after another) */
const READ_FDS = 16;

/** The pack files a {@link PackStore} (pack-store.ts) keeps open for reads, oldest closed first. */
export class PackReadCache {
  private readonly fds = new Map<string, Promise<number>>();
  /** the same files opened with O_DIRECT, for {@link readDirect}; undefined once the file system refused it */
  private direct: Map<string, Promise<number>> | undefined = O_DIRECT === undefined ? undefined : new Map();

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
    const fd =
      this.direct &&
      (await this.handle(this.direct, file, fs.constants.O_RDONLY | O_DIRECT!).catch((e: unknown) => {
        // no direct I/O on this file system (EINVAL); anything else (a missing pack) the buffered read reports
        if ((e as NodeJS.ErrnoException).code === 'EINVAL') this.direct = undefined;
        return undefined;
      }));
    if (fd === undefined) return this.readAt(file, offset, length, view);
    let got = 0;
    try {
      while (got < offset - start + length) {
        const { bytesRead } = await fsRead(fd, buf, got, buf.length - got, start + got);
        if (bytesRead === 0) throw new HvsnapError('integrity_failed', `pack ${file} ends before byte ${offset + length}`, { context: { file } });
        got += bytesRead;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      // this file system (or this memory) takes no direct reads: buffered from now on
      this.direct = undefined;
      return this.readAt(file, offset, length, view);
    }
    return view;
  }

  /** `length` bytes of `file` at `offset`, into `buf` (its first `length` bytes) when given. */
  async readAt(file: string, offset: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    const fd = await this.handle(this.fds, file, fs.constants.O_RDONLY);
    if (buf.length !== length) buf = buf.subarray(0, length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fsRead(fd, buf, got, length - got, offset + got);
      if (bytesRead === 0) throw new HvsnapError('integrity_failed', `pack ${file} ends before byte ${offset + length}`, { context: { file } });
      got += bytesRead;
    }
    return buf;
  }

  /** A cached read handle of `file` in `fds` (opened with `flags`), the oldest closed when there are too many. */
  private handle(fds: Map<string, Promise<number>>, file: string, flags: number): Promise<number> {
    let fdp = fds.get(file);
    if (!fdp) {
      if (fds.size >= READ_FDS) {
        const [oldest, p] = fds.entries().next().value!;
        fds.delete(oldest);
        void p.then(fsClose, () => undefined);
      }
      fdp = fsOpen(file, flags);
      fds.set(file, fdp);
      fdp.catch(() => fds.delete(file));
    }
    return fdp;
  }

  /** Closes the cached read handles. */
  async close(): Promise<void> {
    const fds = [...this.fds.values(), ...(this.direct?.values() ?? [])];
    this.fds.clear();
    this.direct?.clear();
    await forEachLimit(fds, 8, (p) => p.then(fsClose, () => undefined));
  }
}
