import type { ByteRange } from '../core/types.js';

/**
 * The VHDX API the rest of hvsnap uses (lab, data mover, restore). Implemented in src/vhdx.
 * All sizes and offsets in bytes.
 */

export interface CreateVhdxOptions {
  /** virtual size in bytes; a multiple of the logical sector size */
  virtualSize: number;
  /** payload block size in bytes, a power of two from 1 MiB to 256 MiB; default 32 MiB */
  blockSize?: number;
  /** default 512 */
  logicalSectorSize?: 512 | 4096;
  /** default 4096 */
  physicalSectorSize?: 512 | 4096;
  /** a fixed disk (every block allocated up front); default false: dynamic */
  fixed?: boolean;
  /** the virtual disk id (GUID string); default random */
  virtualDiskId?: string;
}

export interface OpenVhdxOptions {
  /** open for writing (never used on a snapshot) */
  writable?: boolean;
  /**
   * Maps a parent locator's host path (e.g. `C:\ClusterStorage\Volume1\a.vhdx`) to a local path,
   * for differencing disks. Returns undefined when it cannot.
   */
  resolveParent?: (hostPath: string, locator: Record<string, string>) => string | undefined;
  /**
   * Read with blocking preads on the calling thread (`fs.readSync`) instead of libuv's thread pool.
   * Saves the ~40 µs hand-off per read: a sequential 1 MiB-at-a-time read of a cached 1 GiB disk went
   * from ~0.8 to ~1.0 of `cat`. But every read blocks the event loop for as long as it takes (a cold
   * read from a SAN LUN: milliseconds), and concurrent reads run one after another. For single-purpose
   * processes (`hvsnap vhdx read`, benchmarks); never in the proxy, whose concurrent async reads are
   * faster anyway (1.2-1.5x `cat` with 4 in flight). Default false.
   */
  syncReads?: boolean;
  /**
   * Reads of whole pages (position and length multiples of 4 KiB, into page-aligned memory from
   * core/direct-io.ts) go past the page cache, through a second descriptor opened with O_DIRECT; any
   * other read (headers, the BAT, a partial sector) goes through the page cache as before. For a
   * process that reads a disk once and keeps none of it: the data mover's copy of a snapshot. Off
   * where the platform has no O_DIRECT, where the file system refuses it (the open or the first read:
   * EINVAL), with `HVSNAP_DIRECT_IO=0`, and for files that are not on this machine (`files`).
   * `ReadStats.directBytesRead` counts what went direct. Default false.
   */
  directReads?: boolean;
  /**
   * Where the files of the chain (the image and its parents) are, when not on this machine's file
   * system: e.g. over SFTP from a Hyper-V host (host mode). Paths are then that file system's
   * (`/`-separated). Default: local files.
   */
  files?: VhdxFiles;
}

/** A read-only file system the VHDX reader can open a chain in (see {@link OpenVhdxOptions.files}). */
export interface VhdxFiles {
  open(path: string): Promise<VhdxSource>;
  exists(path: string): Promise<boolean>;
}

/**
 * A read-only file that is not on this machine's file system (an SFTP handle): its length in
 * bytes and positional reads. `read` MAY return fewer bytes than asked (0 at the end of the file).
 */
export interface VhdxSource {
  readonly size: number;
  read(buf: Uint8Array, at: number, length: number, pos: number): Promise<number>;
  close(): Promise<void>;
}

/** An open VHDX image: reads the virtual disk, with any pending log replayed in memory. */
export interface VhdxImage {
  readonly path: string;
  readonly virtualSize: number;
  readonly blockSize: number;
  readonly logicalSectorSize: number;
  readonly physicalSectorSize: number;
  /** GUID string, lowercase, 8-4-4-4-12 */
  readonly virtualDiskId: string;
  readonly hasParent: boolean;
  /** bytes read from the underlying file(s) so far (for "reads only what changed" accounting), and of those, past the page cache (`directReads`) */
  readonly stats: { fileBytesRead: number; directBytesRead: number };

  /** The virtual bytes at [offset, offset+length); zeros where nothing is stored. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Same as read, into a caller's buffer (buf.length bytes). A reused buffer from `allocReadBuffer`
   * reads fastest (a plain `Buffer.allocUnsafe` of 128 KiB or more can make reads 3x slower); small
   * sequential reads (up to 256 KiB) are served from a read-ahead of up to 4 MiB per file, which
   * starts once a sequential run has read 1 MiB and never reads past `opts.readaheadEnd` (a virtual
   * offset, bytes: where the caller's current run of reads ends; default the end of the VHDX block).
   */
  readInto(buf: Buffer, offset: number, opts?: { readaheadEnd?: number }): Promise<void>;
  /** Sorted virtual ranges that may hold non-zero data; everything outside reads as zeros. */
  allocatedRanges(): Promise<ByteRange[]>;
  /** Writes virtual bytes (writable images only), allocating blocks as needed. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes written data and metadata durable (fsync). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** One piece of a disk for the streaming builder: ascending, non-overlapping. */
export interface VhdxChunk {
  offset: number;
  data: Uint8Array;
}

export interface WriteVhdxStreamOptions extends CreateVhdxOptions {
  /** the disk's content; absent ranges are zeros (blocks not allocated) */
  source: AsyncIterable<VhdxChunk>;
}
