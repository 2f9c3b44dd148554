import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';

/**
 * Alignment (bytes) of the position, length and memory of a direct read or write: a page, which
 * covers every logical block size Linux devices report (512 and 4096).
 */
export const DIRECT_ALIGN = 4096;

// the part of the WebAssembly API used here (the project's TypeScript libs do not declare it)
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => { readonly buffer: ArrayBuffer | SharedArrayBuffer };
};

/** WebAssembly memory comes in pages of this many bytes. */
const WASM_PAGE = 64 * 1024;

/**
 * glibc serves a request of at least its mmap threshold, which never exceeds 32 MiB on 64-bit systems
 * (DEFAULT_MMAP_THRESHOLD_MAX, malloc/malloc.c), with a mapping of its own, unless a free chunk
 * in its heap is large enough: so every block this module takes from malloc is this large at least,
 * and is checked where it landed ({@link placedOnPage}) before it is used.
 */
const MMAP_ALWAYS = 32 * 1024 * 1024;
/**
 * A mapped chunk's memory starts this many bytes into its mapping (the chunk header, 2 × SIZE_SZ),
 * so the first whole page of it starts `DIRECT_ALIGN - MMAP_HEADER` bytes in.
 */
const MMAP_HEADER = 16;
/** Where the first whole page of a block from malloc starts in it. */
const FIRST_PAGE = DIRECT_ALIGN - MMAP_HEADER;
/** Aligned memory of up to this many bytes is cut from a shared slab; more gets a mapping of its own. */
const PIECE_MAX = 8 * 1024 * 1024;
/** Bytes of one slab (a mapping glibc makes for it alone, see {@link MMAP_ALWAYS}). */
const SLAB_BYTES = 64 * 1024 * 1024;

/** The memory each aligned ArrayBuffer was made from starts on a page at this byte offset. */
const alignedAt = new WeakMap<ArrayBufferLike, number>();

/**
 * Where page-aligned memory comes from:
 * - `wasm`: WebAssembly memory, which V8 places on whole pages of its own mappings;
 * - `malloc`: slabs of memory from glibc's malloc, used when the process started with glibc's
 *   `glibc.malloc.hugetlb=1` tunable (see {@link hugePageEnv}). glibc then asks the kernel for
 *   transparent huge pages (MADV_HUGEPAGE) on the memory it maps, which V8's WebAssembly memory
 *   never gets on a system whose THP setting is `madvise` (Debian's and Ubuntu's default).
 *
 * Why huge pages: direct I/O hands the device the buffer's physical pages. In 4 KiB pages that is
 * one segment per page, and a queue of 254 segments cuts a request at about 1 MiB; memory in 2 MiB
 * pages goes in a few segments. On the bench VM, 4 GiB of O_DIRECT writes were submitted in
 * 1.72-2.22 s from 4 KiB pages and 0.63-0.67 s from huge pages (a C program, madvise on and off).
 */
export type AlignedMemorySource = 'wasm' | 'malloc';

let source: AlignedMemorySource | undefined;
let slab: { buffer: SharedArrayBuffer; next: number } | undefined;

/**
 * The source this process takes aligned memory from, decided on first use: `malloc` where the
 * process started with the tunable and the first slab is where glibc's layout puts it (see
 * {@link AlignedMemorySource}); `wasm` otherwise, and from the first malloc block that is not.
 */
export function alignedMemorySource(): AlignedMemorySource {
  if (source === undefined) {
    slab = hugePagesInEffect(process.env) ? newSlab() : undefined;
    source = slab ? 'malloc' : 'wasm';
  }
  return source;
}

/**
 * A buffer of `bytes` whose memory starts on a page boundary, as direct I/O needs. Whether the
 * kernel agrees is checked by the first direct read or write, which falls back to the page cache
 * if it does not (see direct-io.ts).
 */
export function allocAlignedBuffer(bytes: number): Buffer {
  return alignedMemory(bytes, false);
}

/**
 * Page-aligned memory of `bytes` on a SharedArrayBuffer, for buffers worker threads work on in
 * place and direct I/O fills or writes: see {@link allocAlignedBuffer}.
 */
export function allocAlignedShared(bytes: number): Buffer {
  return alignedMemory(bytes, true);
}

/** True when `buf` starts on a page of memory from {@link allocAlignedBuffer} or {@link allocAlignedShared}. */
export function isAlignedMemory(buf: Uint8Array): boolean {
  const at = alignedAt.get(buf.buffer);
  return at !== undefined && (buf.byteOffset - at) % DIRECT_ALIGN === 0;
}

function alignedMemory(bytes: number, shared: boolean): Buffer {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`aligned memory: bytes must be a positive integer, got ${bytes}`);
  if (alignedMemorySource() === 'malloc') {
    const whole = Math.ceil(bytes / DIRECT_ALIGN) * DIRECT_ALIGN;
    if (whole > PIECE_MAX) {
      const own = mapped(Math.max(whole + DIRECT_ALIGN, MMAP_ALWAYS), shared);
      if (own) return Buffer.from(own, FIRST_PAGE, bytes);
    } else {
      // a slab is shared memory either way: a plain Buffer over it works the same for the caller
      if (!slab || slab.next + whole > slab.buffer.byteLength) slab = newSlab();
      if (slab) {
        const buf = Buffer.from(slab.buffer, slab.next, bytes);
        slab.next += whole;
        return buf;
      }
    }
    source = 'wasm'; // glibc put a block elsewhere than its layout says: no more tries
  }
  const pages = Math.ceil(bytes / WASM_PAGE);
  const { buffer } = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  alignedAt.set(buffer, 0);
  return Buffer.from(buffer, 0, bytes);
}

/**
 * An ArrayBuffer of `bytes` (≥ {@link MMAP_ALWAYS}) from malloc whose memory from
 * {@link FIRST_PAGE} on starts on a page, as read back; undefined when it does not.
 */
function mapped(bytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer | undefined {
  const buffer = shared ? new SharedArrayBuffer(bytes) : Buffer.allocUnsafeSlow(bytes).buffer;
  if (!placedOnPage(buffer)) return undefined;
  alignedAt.set(buffer, FIRST_PAGE);
  return buffer;
}

/** A new slab, its first piece at {@link FIRST_PAGE}; undefined when glibc did not put it there. */
function newSlab(): { buffer: SharedArrayBuffer; next: number } | undefined {
  const buffer = mapped(SLAB_BYTES + DIRECT_ALIGN, true) as SharedArrayBuffer | undefined;
  return buffer && { buffer, next: FIRST_PAGE };
}

/** The glibc tunable that makes malloc ask for transparent huge pages (glibc 2.35 and later). */
const HUGETLB_TUNABLE = 'glibc.malloc.hugetlb=1';

/** The C library this process runs on: glibc's version, or undefined for another (musl) or another platform. */
function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
  if (!report) return undefined;
  // a report lists sockets with their peers' names, looked up synchronously (slow where DNS is): not here
  const network = report.excludeNetwork;
  report.excludeNetwork = true;
  try {
    return (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  } finally {
    report.excludeNetwork = network;
  }
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

/** The machine's transparent huge page setting (`always`, `madvise`, `never`), or undefined where there is none. */
export function transparentHugePages(): string | undefined {
  try {
    return /\[(\w+)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** True on glibc 2.35 or later, the first to have the tunable (read last: it takes a process report). */
function glibcHasTunable(): boolean {
  const glibc = glibcVersion();
  return glibc !== undefined && atLeast(glibc, 2, 35);
}

/** The glibc tunables `env` sets, in order. */
function tunablesOf(env: NodeJS.ProcessEnv): string[] {
  return (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t !== '');
}

/** True when this process started with malloc asking for huge pages, on a glibc that honours it, and nothing preloaded in malloc's place. */
function hugePagesInEffect(env: NodeJS.ProcessEnv): boolean {
  return !env.LD_PRELOAD && tunablesOf(env).includes(HUGETLB_TUNABLE) && glibcHasTunable();
}

/**
 * The environment to start a process that moves disk data with, so its direct I/O buffers get
 * transparent huge pages ({@link AlignedMemorySource}); undefined where that would change nothing:
 * not Linux with glibc 2.35 or later, THP `always` (every process gets them) or `never`, the
 * tunable already set, another malloc preloaded, or `HVSNAP_HUGE_PAGES=0`. `HVSNAP_HUGE_PAGES=1`
 * sets the tunable whatever the THP setting.
 */
export function hugePageEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv | undefined {
  if (process.platform !== 'linux' || env.HVSNAP_HUGE_PAGES === '0' || env.LD_PRELOAD) return undefined;
  const tunables = tunablesOf(env);
  if (tunables.some((t) => t.startsWith('glibc.malloc.hugetlb='))) return undefined;
  if (env.HVSNAP_HUGE_PAGES !== '1' && transparentHugePages() !== 'madvise') return undefined;
  return glibcHasTunable() ? { ...env, GLIBC_TUNABLES: [...tunables, HUGETLB_TUNABLE].join(':') } : undefined;
}

/**
 * Reads back where glibc put `buffer`: true when its memory from FIRST_PAGE on is
 * the first page but one of a mapping of this process, found by writing a random mark there and
 * reading it through /proc/self/mem. Any doubt (no /proc, the mark not found) says false.
 */
function placedOnPage(buffer: ArrayBufferLike): boolean {
  const mark = randomBytes(32);
  const at = new Uint8Array(buffer, FIRST_PAGE, mark.length);
  at.set(mark);
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const fd = fs.openSync('/proc/self/mem', 'r');
    try {
      const seen = Buffer.alloc(mark.length);
      const length = Math.ceil((buffer.byteLength + MMAP_HEADER) / DIRECT_ALIGN) * DIRECT_ALIGN;
      for (const line of maps.split('\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
        if (!m) continue;
        const start = parseInt(m[1]!, 16);
        const end = parseInt(m[2]!, 16);
        if (end - start < length) continue;
        // a new mapping is an area of its own, or the bottom or top of one the kernel merged it with
        for (const base of [start, end - length]) {
          try {
            if (fs.readSync(fd, seen, 0, seen.length, base + DIRECT_ALIGN) === seen.length && seen.equals(mark)) return true;
          } catch {
            // not readable there: not ours
          }
        }
      }
      return false;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  } finally {
    at.fill(0);
  }
}
