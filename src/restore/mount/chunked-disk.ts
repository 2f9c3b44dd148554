import { HvsnapError } from '../../core/errors.js';
import type { DiskIndex } from '../../repository/types.js';

/** A read-only byte range source: what the mounted files are made of. Offsets and lengths in bytes. */
export interface ReadableImage {
  readonly size: number;
  /** bytes [offset, offset+length) clipped to `size`; a short (or empty) buffer only at the end */
  read(offset: number, length: number): Promise<Buffer>;
}

/** Chunks kept decoded at once per disk: the reads of a guest or a tool are mostly sequential. */
const CACHED_CHUNKS = 8;

/**
 * A disk's virtual content served straight from its chunk index: a read fetches (and verifies)
 * only the chunks it touches, all-zero chunks cost nothing, and a few recent chunks are cached.
 * Opening costs nothing but the index, whatever the disk's size.
 */
export class ChunkedDisk implements ReadableImage {
  readonly size: number;
  private readonly cache = new Map<number, Promise<Buffer>>();

  constructor(
    private readonly index: DiskIndex,
    private readonly chunk: (id: string) => Promise<Buffer>,
    private readonly name: string,
  ) {
    this.size = index.virtualSize;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    const cs = this.index.chunkSize;
    for (let i = Math.floor(offset / cs); i * cs < end; i++) {
      const id = this.index.chunks[i];
      if (id === null) continue; // zeros, already
      const data = await this.load(i, id);
      const from = Math.max(offset, i * cs);
      const to = Math.min(end, (i + 1) * cs);
      data.copy(out, from - offset, from - i * cs, to - i * cs);
    }
    return out;
  }

  private load(i: number, id: string): Promise<Buffer> {
    let p = this.cache.get(i);
    if (p) {
      this.cache.delete(i); // most recently used goes last
      this.cache.set(i, p);
      return p;
    }
    const length = Math.min(this.index.chunkSize, this.size - i * this.index.chunkSize);
    p = this.chunk(id).then((data) => {
      if (data.length !== length) {
        throw new HvsnapError('integrity_failed', `chunk ${i} of ${this.name} is ${data.length} bytes, expected ${length}`, {
          context: { disk: this.name, offset: i * this.index.chunkSize },
        });
      }
      return data;
    });
    p.catch(() => this.cache.delete(i)); // a failed read is retried next time, not cached
    this.cache.set(i, p);
    if (this.cache.size > CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }
}

/** A window [offset, offset+size) of another image: a partition of a disk. */
export function sliceImage(image: ReadableImage, offset: number, size: number): ReadableImage {
  return {
    size,
    read: (at, length) => image.read(offset + at, Math.max(0, Math.min(length, size - at))),
  };
}
