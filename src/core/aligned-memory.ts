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
 * glibc serves every request of at least its mmap threshold with a mapping of its own, and that
 * threshold never exceeds 32 MiB on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX, malloc/malloc.c):
 * a request this large always gets one.
 */
const MMAP_ALWAYS = 32 * 1024 * 1024;
/**
 * A mapped chunk's memory starts this many bytes into its mapping (the chunk header, 2 × SIZE_SZ),
 * so the first whole page of it starts `DIRECT_ALIGN - MMAP_HEADER` bytes in.
 */
const MMAP_HEADER = 16;
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

/** The source this process takes aligned memory from (decided on first use, see {@link AlignedMemorySource}). */
export function alignedMemorySource(): AlignedMemorySource {
  source ??= hugePagesInEffect(process.env) && mallocLayoutHolds() ? 'malloc' : 'wasm';
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
  if (alignedMemorySource() === 'wasm') {
    const pages = Math.ceil(bytes / WASM_PAGE);
    const { buffer } = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
    alignedAt.set(buffer, 0);
    return Buffer.from(buffer, 0, bytes);
  }
  const whole = Math.ceil(bytes / DIRECT_ALIGN) * DIRECT_ALIGN;
  if (whole > PIECE_MAX) return Buffer.from(mapped(Math.max(whole + DIRECT_ALIGN, MMAP_ALWAYS), shared), DIRECT_ALIGN - MMAP_HEADER, bytes);
  // a slab is shared memory either way: a plain Buffer over it works the same for the caller
  if (!slab || slab.next + whole > slab.buffer.byteLength)
    slab = { buffer: mapped(SLAB_BYTES + DIRECT_ALIGN, true) as SharedArrayBuffer, next: DIRECT_ALIGN - MMAP_HEADER };
  const buf = Buffer.from(slab.buffer, slab.next, bytes);
  slab.next += whole;
  return buf;
}

/** An ArrayBuffer of `bytes` (≥ {@link MMAP_ALWAYS}) from malloc: a mapping of its own, its first page at DIRECT_ALIGN - MMAP_HEADER. */
function mapped(bytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
  const buffer = shared ? new SharedArrayBuffer(bytes) : Buffer.allocUnsafeSlow(bytes).buffer;
  alignedAt.set(buffer, DIRECT_ALIGN - MMAP_HEADER);
  return buffer;
}

/** The glibc tunable that makes malloc ask for transparent huge pages (glibc 2.35 and later). */
const HUGETLB_TUNABLE = 'glibc.malloc.hugetlb=1';

/** The C library this process runs on: glibc's version, or undefined for another (musl) or another platform. */
function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
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

/** True when this process started with malloc asking for huge pages, on a glibc that honours it, and nothing preloaded in malloc's place. */
function hugePagesInEffect(env: NodeJS.ProcessEnv): boolean {
  if (env.LD_PRELOAD || !(env.GLIBC_TUNABLES ?? '').split(':').includes(HUGETLB_TUNABLE)) return false;
  const glibc = glibcVersion();
  return glibc !== undefined && atLeast(glibc, 2, 35);
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
  const tunables = (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t !== '');
  if (tunables.some((t) => t.startsWith('glibc.malloc.hugetlb='))) return undefined;
  if (env.HVSNAP_HUGE_PAGES !== '1' && transparentHugePages() !== 'madvise') return undefined;
  const glibc = glibcVersion();
  if (glibc === undefined || !atLeast(glibc, 2, 35)) return undefined;
  return { ...env, GLIBC_TUNABLES: [...tunables, HUGETLB_TUNABLE].join(':') };
}

/**
 * Reads back where glibc put a slab: true when the memory {@link mapped} calls page-aligned is,
 * found by writing a random mark there and reading it through /proc/self/mem at the first page of
 * a mapping of this process. Any doubt (no /proc, the mark not found) keeps WebAssembly memory.
 */
function mallocLayoutHolds(): boolean {
  try {
    const probe = new SharedArrayBuffer(MMAP_ALWAYS + DIRECT_ALIGN);
    const mark = randomBytes(32);
    new Uint8Array(probe, DIRECT_ALIGN - MMAP_HEADER, mark.length).set(mark);
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const fd = fs.openSync('/proc/self/mem', 'r');
    try {
      const seen = Buffer.alloc(mark.length);
      for (const line of maps.split('\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
        if (!m) continue;
        const start = parseInt(m[1]!, 16);
        const end = parseInt(m[2]!, 16);
        if (end - start < probe.byteLength) continue;
        // a new mapping sits at the bottom of its area, or at the top when the kernel merged it with one below
        const tops = [start, end - Math.ceil((probe.byteLength + MMAP_HEADER) / DIRECT_ALIGN) * DIRECT_ALIGN];
        for (const base of tops) {
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
  }
}
