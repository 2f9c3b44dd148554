import { allocReadBuffer } from '../core/read-buffer.js';

/** Fills `buf[at, at+length)` with file bytes at `pos` (one pread loop); rejects on an I/O error. */
export type FetchFileBytes = (buf: Uint8Array, at: number, length: number, pos: number) => Promise<void>;

export interface ReadaheadOptions {
  /** bytes per read-ahead pread; default 1 MiB */
  windowSize?: number;
  /** windows read ahead of the caller at most (memory: depth × windowSize); default 4 */
  depth?: number;
  /**
   * bytes a sequential run must already have read before read-ahead starts, and per window it may
   * keep ahead (a run of n × minRun bytes keeps up to n windows ahead, at most `depth`); default
   * `windowSize`. Read-ahead thus never reads more than the run has read itself.
   */
  minRun?: number;
}

interface Window {
  pos: number;
  end: number;
  buf: Buffer;
  /** true once filled, false if the pread failed (never rejects) */
  done: Promise<boolean>;
  /** reads copying out of this window right now: its buffer is recycled only when none is */
  users: number;
  released: boolean;
  settled: boolean;
  /** the pread succeeded (valid once settled) */
  ok: boolean;
}

/**
 * Read-ahead for small sequential reads of one file. Each pread through libuv's thread pool costs
 * about 40 µs of hand-offs whatever its size, so a caller reading 128 KiB at a time spends more time
 * waiting for hand-offs than copying (0.26-0.36 of `cat` on a 1 GiB file). Once a sequential run of
 * small reads has read `minRun` bytes, this reads windows of `windowSize` bytes ahead, concurrently
 * with the caller, and serves the small reads by copying out of them. Like the kernel's readahead it
 * ramps: one window at first, one more per `minRun` bytes the run has read, up to `depth`. So the
 * scattered reads of an incremental backup (a changed range is often one or two chunks, and two
 * adjacent chunks used to start 4 MiB of read-ahead up to the end of the VHDX block) never read ahead,
 * and a run that stops wastes at most what it read. Never crosses the caller's `limit` (the end of the
 * extent being read, or of the range the caller reads: the data mover passes the end of each merged
 * range, so an incremental's longer runs read nothing past their end either).
 */
export class Readahead {
  private windows: Window[] = [];
  private free: Buffer[] = [];
  private lastEnd = -1;
  /** file offset where the current sequential run of reads began */
  private runStart = -1;
  private readonly windowSize: number;
  private readonly depth: number;
  private readonly minRun: number;

  constructor(
    private readonly fetch: FetchFileBytes,
    opts: ReadaheadOptions = {},
  ) {
    this.windowSize = opts.windowSize ?? 1024 * 1024;
    this.depth = opts.depth ?? 4;
    this.minRun = opts.minRun ?? this.windowSize;
  }

  /** Reads up to this many bytes go through the read-ahead; larger ones are cheap enough alone. */
  get maxServed(): number {
    return this.windowSize / 4;
  }

  /**
   * Copies file bytes `[pos, pos+length)` into `buf` at `at` from the read-ahead windows, starting them
   * if this read continues a sequential run of at least `minRun` bytes. Returns false when it did not (a
   * large or random read, a short run, or a failed window): the caller then reads directly, and gets the
   * real error if any.
   * @param limit file offset (bytes) read-ahead must not reach past
   */
  async read(buf: Uint8Array, at: number, length: number, pos: number, limit: number): Promise<boolean> {
    const end = pos + length;
    if (length > this.maxServed || end > limit) {
      this.follow(pos, end);
      return false;
    }
    let i = this.windows.findIndex((w) => w.pos <= pos && pos < w.end);
    if (i < 0) {
      const run = pos === this.lastEnd ? pos - this.runStart : 0;
      this.follow(pos, end);
      if (run < this.minRun) return false;
      this.discard();
      this.topUp(pos, limit);
      i = 0;
    }
    // the windows covering [pos, end), contiguous by construction
    const used: Window[] = [];
    for (let k = i, p = pos; p < end; k++) {
      const w = this.windows[k];
      if (!w || (k > i && w.pos !== p)) break;
      used.push(w);
      p = w.end;
    }
    if (!used.length || used[used.length - 1].end < end) {
      this.follow(pos, end);
      return false;
    }
    // noted at once, not after the copy: concurrent callers ask in order, so the next one sees the run
    this.lastEnd = end;
    for (const w of used) w.users++;
    try {
      // usually the windows are ready: copy without waiting a turn of the event loop
      if (!used.every((w) => w.settled)) await Promise.all(used.map((w) => w.done));
      if (!used.every((w) => w.ok)) {
        this.discard();
        return false;
      }
      for (const w of used) {
        const from = Math.max(pos, w.pos);
        const to = Math.min(end, w.end);
        buf.set(w.buf.subarray(from - w.pos, to - w.pos), at + (from - pos));
      }
    } finally {
      for (const w of used) {
        w.users--;
        this.recycle(w);
      }
    }
    // windows wholly behind the caller are done with
    while (this.windows.length && this.windows[0].end <= end) {
      const w = this.windows.shift()!;
      w.released = true;
      this.recycle(w);
    }
    this.topUp(end, limit);
    return true;
  }

  /** Forgets everything read ahead (after a write to the file): later reads see the file as it is. */
  clear(): void {
    this.discard();
    this.lastEnd = -1;
    this.runStart = -1;
  }

  /** Waits for the preads still running (before the file is closed). */
  async settle(): Promise<void> {
    await Promise.all(this.windows.map((w) => w.done));
    this.discard();
  }

  /** Notes a read of `[pos, end)`: it continues the current run, or starts a new one. */
  private follow(pos: number, end: number): void {
    if (pos !== this.lastEnd) this.runStart = pos;
    this.lastEnd = end;
  }

  private topUp(from: number, limit: number): void {
    let next = this.windows.length ? this.windows[this.windows.length - 1].end : from;
    // one window per minRun bytes the run has read: a run that stops has wasted at most what it read
    const ahead = Math.min(this.depth, Math.max(1, Math.floor((from - this.runStart) / this.minRun)));
    while (this.windows.length < ahead && next < limit) {
      const len = Math.min(this.windowSize, limit - next);
      const buf = this.free.pop() ?? allocReadBuffer(this.windowSize, next);
      const pos = next;
      const w: Window = { pos, end: pos + len, buf, done: Promise.resolve(false), users: 0, released: false, settled: false, ok: false };
      w.done = this.fetch(buf, 0, len, pos).then(
        () => true,
        () => false,
      );
      void w.done.then((ok) => {
        w.ok = ok;
        w.settled = true;
        this.recycle(w);
      });
      this.windows.push(w);
      next += len;
    }
  }

  /** Drops all windows; a buffer a pread may still be filling is left to the garbage collector. */
  private discard(): void {
    for (const w of this.windows) w.released = true;
    this.windows = [];
  }

  private recycle(w: Window): void {
    // only buffers no pread is filling and nobody copies from
    if (w.released && w.settled && w.users === 0 && !this.free.includes(w.buf) && this.free.length < this.depth) this.free.push(w.buf);
  }
}
