import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { DIRECT_ALIGN, isAlignedMemory, openDirectTwin } from '../core/direct-io.js';
import { HvsnapError } from '../core/errors.js';
import { LOG_SECTOR } from './constants.js';
import { vhdxInvalid, type VhdxStructure } from './errors.js';
import { Readahead } from './readahead.js';
import type { VhdxSource } from './types.js';

// The callback API on a raw fd: FileHandle.read costs several times more CPU per call in Node 20,
// which dominates sequential reads of 128 KiB-1 MiB.
const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
const fsFstat = promisify(fs.fstat);
const fsFtruncate = promisify(fs.ftruncate);
const fsFsync = promisify(fs.fsync);

function fsRead(fd: number, buf: Uint8Array, at: number, length: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, at, length, pos, (e, n) => (e ? reject(e) : resolve(n))));
}

function fsWrite(fd: number, buf: Uint8Array, at: number, length: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, at, length, pos, (e, n) => (e ? reject(e) : resolve(n))));
}

/** Counters shared by every file of a chain. */
export interface ReadStats {
  /** bytes read from the underlying file(s) */
  fileBytesRead: number;
  /** of those, bytes read past the page cache (OpenVhdxOptions.directReads) */
  directBytesRead: number;
}

/** Counters at zero, for a new chain. */
export function newReadStats(): ReadStats {
  return { fileBytesRead: 0, directBytesRead: 0 };
}

/**
 * Random access to one VHDX file. Reads may be overlaid with 4 KiB sectors from an in-memory log replay,
 * so that a read-only file reads as if its log had been applied; the file itself is never changed by that.
 */
export class VhdxFile {
  /** logical length: the physical length, extended by log replay where the log says so */
  size: number;
  private overlay = new Map<number, Buffer>();
  private overlayKeys: number[] = [];
  /** created on the first small read inside an extent (see {@link Readahead}) */
  private readahead: Readahead | undefined;
  /** the same file opened with O_DIRECT, for reads of whole pages (OpenVhdxOptions.directReads); undefined when off or refused */
  private directFd: number | undefined;
  /** set once the kernel refused a direct read: the rest go through the page cache */
  private directRefused = false;

  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly writable: boolean,
    public physicalSize: number,
    readonly stats: ReadStats,
    /** blocking preads on the calling thread (see OpenVhdxOptions.syncReads) */
    private readonly syncReads: boolean,
    /** reads go here instead of `fd` (a remote file, see OpenVhdxOptions.openFile) */
    private readonly source?: VhdxSource,
  ) {
    this.size = physicalSize;
  }

  /** Opens a file read-only (or read-write); the error names the path. */
  static async open(path: string, writable: boolean, stats: ReadStats, opts: { syncReads?: boolean; directReads?: boolean } = {}): Promise<VhdxFile> {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO planted as a disk (or a parent) must not wait for a writer forever
      fd = await fsOpen(path, (writable ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | fs.constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new HvsnapError(code === 'ENOENT' ? 'not_found' : 'vhdx_invalid', `cannot open VHDX ${path}: ${(e as Error).message}`, {
        cause: e,
        context: { file: path, structure: 'file', offset: 0 },
      });
    }
    const st = await fsFstat(fd);
    if (!st.isFile()) {
      await fsClose(fd);
      const kind = st.isFIFO()
        ? 'a FIFO'
        : st.isCharacterDevice()
          ? 'a character device'
          : st.isBlockDevice()
            ? 'a block device'
            : st.isSocket()
              ? 'a socket'
              : st.isDirectory()
                ? 'a folder'
                : 'not a regular file';
      throw new HvsnapError('vhdx_invalid', `${path} is ${kind}, not a VHDX file`, { context: { file: path, structure: 'file', offset: 0 } });
    }
    const file = new VhdxFile(path, fd, writable, st.size, stats, !!opts.syncReads);
    if (opts.directReads && !writable && !opts.syncReads) {
      // O_NONBLOCK as above; where there is no direct descriptor, every read goes through the page cache
      const direct = await openDirectTwin(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, st);
      if ('fd' in direct) file.directFd = direct.fd;
    }
    return file;
  }

  /**
   * Creates a new file for writing: exclusively and without following a link at `path`
   * (`O_CREAT|O_EXCL|O_NOFOLLOW`), so a file or a link planted there is never written through.
   * An existing entry is `already_exists`.
   */
  static async create(path: string, stats: ReadStats): Promise<VhdxFile> {
    const c = fs.constants;
    let fd: number;
    try {
      fd = await fsOpen(path, c.O_RDWR | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new HvsnapError(
        code === 'EEXIST' ? 'already_exists' : 'input_invalid',
        `cannot create ${path}: ${code === 'EEXIST' ? 'something (a file or a link) is already there; nothing was written' : (e as Error).message}`,
        {
          cause: e,
          context: { file: path },
        },
      );
    }
    return new VhdxFile(path, fd, true, 0, stats, false);
  }

  /** A read-only file whose bytes come from `source` (e.g. SFTP) rather than a local descriptor. */
  static async fromSource(path: string, source: VhdxSource, stats: ReadStats): Promise<VhdxFile> {
    return new VhdxFile(path, -1, false, source.size, stats, false, source);
  }

  /** Sets in-memory replacement sectors (4 KiB each, keyed by file offset / 4096) and the logical size. */
  setOverlay(sectors: Map<number, Buffer>, size: number): void {
    this.overlay = sectors;
    this.overlayKeys = [...sectors.keys()].sort((a, b) => a - b);
    this.size = Math.max(this.physicalSize, size);
  }

  get hasOverlay(): boolean {
    return this.overlayKeys.length > 0;
  }

  /** The overlay sectors, ascending (for writing a replayed log into a writable file). */
  overlaySectors(): Array<[number, Buffer]> {
    return this.overlayKeys.map((k) => [k * LOG_SECTOR, this.overlay.get(k)!]);
  }

  clearOverlay(): void {
    this.overlay = new Map();
    this.overlayKeys = [];
  }

  /**
   * Fills `buf[at, at+length)` with file bytes from `pos`. Bytes past the physical end but inside the
   * logical size read as zeros; a read past the logical size is a truncated file (`vhdx_invalid`).
   * `extentEnd` (file offset, bytes): the end of the payload extent `pos` lies in, or where the caller's
   * run of reads ends if sooner; given, small sequential reads are served by read-ahead up to there.
   */
  async readInto(buf: Uint8Array, at: number, length: number, pos: number, structure: VhdxStructure, extentEnd?: number): Promise<void> {
    if (pos + length > this.size) {
      throw vhdxInvalid({ file: this.path, structure, offset: pos }, `truncated file: ${length} bytes needed at offset ${pos}, file is ${this.size} bytes`);
    }
    // (blocking reads cost no hand-off: read-ahead would only add a copy)
    if (extentEnd !== undefined && length <= 256 * 1024 && !this.syncReads) this.readahead ??= new Readahead((b, a, l, p) => this.readPiece(b, a, l, p));
    const served = extentEnd !== undefined && this.readahead ? await this.readahead.read(buf, at, length, pos, Math.min(extentEnd, this.size)) : false;
    if (!served) await this.readPiece(buf, at, length, pos);
    if (this.overlayKeys.length) this.applyOverlay(buf, at, length, pos);
  }

  /** One pread (looping on short reads): large extents cost one syscall. Counts into `stats` (read-ahead too). */
  private async readPiece(buf: Uint8Array, at: number, length: number, pos: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const direct = this.directFd !== undefined ? await this.readDirect(buf, at + done, length - done, pos + done) : 0;
      if (direct > 0) {
        done += direct;
        continue;
      }
      const bytesRead = this.source
        ? await this.source.read(buf, at + done, length - done, pos + done)
        : this.syncReads
          ? fs.readSync(this.fd, buf, at + done, length - done, pos + done)
          : await fsRead(this.fd, buf, at + done, length - done, pos + done);
      this.stats.fileBytesRead += bytesRead;
      if (bytesRead === 0) {
        // past the physical end (a log extended the file, or a sparse tail): zeros
        buf.fill(0, at + done, at + length);
        return;
      }
      done += bytesRead;
    }
  }

  /**
   * Reads the whole pages of `[pos, pos + length)` into `buf` at `at` past the page cache, when the
   * position and the memory are page-aligned: bytes read (fewer at the end of the file), or 0 when
   * the read is not one for direct I/O, and the caller reads it buffered. The first read the kernel
   * refuses (EINVAL: a file system or memory that takes no direct reads) turns direct reads off.
   */
  private async readDirect(buf: Uint8Array, at: number, length: number, pos: number): Promise<number> {
    const whole = length - (length % DIRECT_ALIGN);
    if (this.directRefused || whole === 0 || pos % DIRECT_ALIGN !== 0 || !isAlignedMemory(buf.subarray(at))) return 0;
    try {
      const n = await fsRead(this.directFd!, buf, at, whole, pos);
      this.stats.directBytesRead += n;
      this.stats.fileBytesRead += n;
      return n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      // left open until close(): a concurrent direct read may still hold the descriptor
      this.directRefused = true;
      return 0;
    }
  }

  /** Reads `length` bytes at `pos` into a new buffer. */
  async read(pos: number, length: number, structure: VhdxStructure): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(buf, 0, length, pos, structure);
    return buf;
  }

  private applyOverlay(buf: Uint8Array, at: number, length: number, pos: number): void {
    const first = Math.floor(pos / LOG_SECTOR);
    const last = Math.floor((pos + length - 1) / LOG_SECTOR);
    let lo = 0;
    let hi = this.overlayKeys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.overlayKeys[mid] < first) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.overlayKeys.length && this.overlayKeys[i] <= last; i++) {
      const key = this.overlayKeys[i];
      const sector = this.overlay.get(key)!;
      const sStart = key * LOG_SECTOR;
      const from = Math.max(pos, sStart);
      const to = Math.min(pos + length, sStart + LOG_SECTOR);
      buf.set(sector.subarray(from - sStart, to - sStart), at + (from - pos));
    }
  }

  /** Writes all of `data` at `pos` (writable files only). */
  async write(data: Uint8Array, pos: number): Promise<void> {
    this.readahead?.clear();
    let done = 0;
    while (done < data.length) {
      const bytesWritten = await fsWrite(this.fd, data, done, data.length - done, pos + done);
      done += bytesWritten;
    }
    if (pos + data.length > this.physicalSize) this.physicalSize = pos + data.length;
    if (this.physicalSize > this.size) this.size = this.physicalSize;
  }

  /** Sets the physical length (sparse extension or truncation). */
  async truncate(size: number): Promise<void> {
    this.readahead?.clear();
    await fsFtruncate(this.fd, size);
    this.physicalSize = size;
    this.size = Math.max(this.size, size);
  }

  async sync(): Promise<void> {
    await fsFsync(this.fd);
  }

  async close(): Promise<void> {
    // read-ahead preads still running finish first: after close their fd number may name another file
    await this.readahead?.settle();
    const direct = this.directFd;
    this.directFd = undefined;
    if (direct !== undefined) await fsClose(direct).catch(() => undefined);
    await (this.source ? this.source.close() : fsClose(this.fd));
  }
}
