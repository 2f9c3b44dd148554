import * as fs from 'node:fs';
import { promisify } from 'node:util';
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

  /** `length` bytes of `file` at `offset`, into `buf` (its first `length` bytes) when given. */
  async readAt(file: string, offset: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    let fdp = this.fds.get(file);
    if (!fdp) {
      if (this.fds.size >= READ_FDS) {
        const [oldest, p] = this.fds.entries().next().value!;
        this.fds.delete(oldest);
        void p.then(fsClose, () => undefined);
      }
      fdp = fsOpen(file, 'r');
      this.fds.set(file, fdp);
      fdp.catch(() => this.fds.delete(file));
    }
    const fd = await fdp;
    if (buf.length !== length) buf = buf.subarray(0, length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fsRead(fd, buf, got, length - got, offset + got);
      if (bytesRead === 0) throw new HvsnapError('integrity_failed', `pack ${file} ends before byte ${offset + length}`, { context: { file } });
      got += bytesRead;
    }
    return buf;
  }

  /** Closes the cached read handles. */
  async close(): Promise<void> {
    const fds = [...this.fds.values()];
    this.fds.clear();
    await forEachLimit(fds, 8, (p) => p.then(fsClose, () => undefined));
  }
}
