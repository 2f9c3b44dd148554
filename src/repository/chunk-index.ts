import type { ChunkId } from './types.js';

/** Bytes per entry: chunk id (32), pack number (4), offset (4), stored length (4), info (4). */
const REC = 48;

/** Where a chunk is stored. */
export interface ChunkLocation {
  /** the number of the pack in {@link ChunkIndex.packs} */
  pack: number;
  /** bytes from the start of the pack */
  offset: number;
  /** stored bytes */
  length: number;
  /** raw length and compressed flag (see pack-format infoOf) */
  info: number;
}

/**
 * Chunk id → location, compact: 48 bytes per chunk in one growing buffer plus a 4-byte-per-slot
 * open-addressing table (load ≤ 1/2), so a repository of a million chunks (256 GiB of 256 KiB chunks)
 * costs about 56 MB, not the ~250 MB a Map of strings to objects would. Ids are uniformly
 * distributed (SHA-256 or HMAC), so their first 4 bytes are the hash.
 */
export class ChunkIndex {
  private recs = Buffer.alloc(REC * 1024);
  private slots = new Int32Array(2048).fill(-1);
  /** a hex id being looked up, decoded */
  private readonly scratch = Buffer.alloc(32);
  private n = 0;
  /** pack names (ids) by number */
  readonly packs: string[] = [];
  private readonly packNumbers = new Map<string, number>();

  /** number of chunks */
  get size(): number {
    return this.n;
  }

  /** The number of pack `name`, added when new. */
  packNumber(name: string): number {
    let n = this.packNumbers.get(name);
    if (n === undefined) {
      n = this.packs.push(name) - 1;
      this.packNumbers.set(name, n);
    }
    return n;
  }

  /** The record of the 32-byte id in `key` at `at`, or ~slot (negative) where it would go. */
  private find(key: Buffer, at = 0): number {
    const mask = this.slots.length - 1;
    for (let s = key.readUInt32LE(at) & mask; ; s = (s + 1) & mask) {
      const r = this.slots[s];
      if (r === -1) return ~s;
      if (this.recs.compare(key, at, at + 32, r * REC, r * REC + 32) === 0) return r;
    }
  }

  /** The record of `id`, hex or 32 bytes, or a negative number when absent; a hex id is decoded into scratch memory (no allocation). */
  private findId(id: ChunkId | Buffer): number {
    if (typeof id !== 'string') return id.length === 32 ? this.find(id) : -1;
    // not 64 hex digits: no chunk has that id (a partial decode must not match what the scratch held)
    return id.length === 64 && this.scratch.write(id, 'hex') === 32 ? this.find(this.scratch) : -1;
  }

  private locationOf(r: number): ChunkLocation | undefined {
    const at = r * REC;
    const pack = this.recs.readUInt32LE(at + 32);
    if (pack === NO_PACK) return undefined;
    return { pack, offset: this.recs.readUInt32LE(at + 36), length: this.recs.readUInt32LE(at + 40), info: this.recs.readUInt32LE(at + 44) };
  }

  /** The location of `id` (hex, or its 32 bytes), or undefined when it has none. */
  get(id: ChunkId | Buffer): ChunkLocation | undefined {
    const r = this.findId(id);
    return r < 0 ? undefined : this.locationOf(r);
  }

  /** Forgets where `id` is (a dropped copy); a later {@link set} gives it a location again. */
  drop(id: ChunkId): void {
    if (this.get(id)) this.set(id, { pack: NO_PACK, offset: 0, length: 0, info: 0 });
  }

  /** Adds `id` (hex, or its 32 bytes) or moves it to `loc`. */
  set(id: ChunkId | Buffer, loc: ChunkLocation): void {
    const key = typeof id === 'string' ? Buffer.from(id, 'hex') : id;
    if (key.length !== 32) throw new RangeError(`a chunk id is 32 bytes, got ${key.length}`);
    this.setAt(key, 0, loc);
  }

  /**
   * Adds the 32-byte id at `at` in `src` (copied into the index), or moves it to `loc` unless `keep`
   * is given and returns true for its current location (asked only when the id has one). One probe
   * unless the index grows, and no copy of the id to look it up: an index file's entries, tens of
   * thousands per file, are loaded this way.
   */
  setAt(src: Buffer, at: number, loc: ChunkLocation, keep?: (current: ChunkLocation) => boolean): void {
    let r = this.find(src, at);
    if (r >= 0) {
      const current = keep && this.locationOf(r);
      if (current && keep(current)) return;
    } else {
      if ((this.n + 1) * 2 > this.slots.length) {
        this.grow();
        r = this.find(src, at);
      }
      const slot = ~r;
      r = this.n++;
      if (r * REC >= this.recs.length) {
        const bigger = Buffer.alloc(this.recs.length * 2);
        this.recs.copy(bigger);
        this.recs = bigger;
      }
      src.copy(this.recs, r * REC, at, at + 32);
      this.slots[slot] = r;
    }
    const to = r * REC;
    this.recs.writeUInt32LE(loc.pack, to + 32);
    this.recs.writeUInt32LE(loc.offset, to + 36);
    this.recs.writeUInt32LE(loc.length, to + 40);
    this.recs.writeUInt32LE(loc.info >>> 0, to + 44);
  }

  /** Makes room for `n` chunks in all: loading an index file of known size grows the index once, not at every doubling. */
  reserve(n: number): void {
    if (n * REC > this.recs.length) {
      const bigger = Buffer.alloc(n * REC);
      this.recs.copy(bigger, 0, 0, this.n * REC);
      this.recs = bigger;
    }
    let slots = this.slots.length;
    while (n * 2 > slots) slots *= 2;
    if (slots > this.slots.length) this.rehash(slots);
  }

  private grow(): void {
    this.rehash(this.slots.length * 2);
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size).fill(-1);
    const mask = slots.length - 1;
    for (let r = 0; r < this.n; r++) {
      let s = this.recs.readUInt32LE(r * REC) & mask;
      while (slots[s] !== -1) s = (s + 1) & mask;
      slots[s] = r;
    }
    this.slots = slots;
  }

  /** Every chunk with its location (ids as hex); dropped ones are skipped. */
  *entries(): Generator<[ChunkId, ChunkLocation]> {
    for (let r = 0; r < this.n; r++) {
      const at = r * REC;
      const pack = this.recs.readUInt32LE(at + 32);
      if (pack === NO_PACK) continue;
      yield [
        this.recs.toString('hex', at, at + 32),
        { pack, offset: this.recs.readUInt32LE(at + 36), length: this.recs.readUInt32LE(at + 40), info: this.recs.readUInt32LE(at + 44) },
      ];
    }
  }
}

/** The pack number of an entry that has no copy (its pack was dropped). */
export const NO_PACK = 0xffff_ffff;
