import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ChunkIndex } from '../../src/repository/chunk-index.js';

const idOf = (i: number): string => createHash('sha256').update(`chunk ${i}`).digest('hex');
const at = (i: number) => ({ pack: i % 7, offset: i * 3, length: i + 1, info: (i * 2654435761) >>> 0 });

describe('ChunkIndex', () => {
  it('finds every id it holds, by hex and by bytes, through growth, and nothing else', () => {
    const index = new ChunkIndex();
    for (let i = 0; i < 5000; i++) index.set(i % 2 ? idOf(i) : Buffer.from(idOf(i), 'hex'), at(i));
    expect(index.size).toBe(5000);
    for (let i = 0; i < 5000; i++) {
      expect(index.get(idOf(i))).toEqual(at(i));
      expect(index.get(Buffer.from(idOf(i), 'hex'))).toEqual(at(i));
    }
    for (let i = 5000; i < 5100; i++) expect(index.get(idOf(i))).toBeUndefined();
  });

  it('finds nothing for an id that is not 64 hex digits, right after a lookup that decoded the same bytes', () => {
    const index = new ChunkIndex();
    const id = idOf(1);
    index.set(id, at(1));
    // each lookup follows one of the whole id, which leaves its bytes in the index's scratch memory
    for (const bad of [id.slice(0, 62), `${id.slice(0, 62)}zz`, `${id.slice(0, 63)}`, `${id}00`, '', 'not hex']) {
      expect(index.get(id)).toEqual(at(1));
      expect(index.get(bad)).toBeUndefined();
    }
    expect(index.get(Buffer.from(id, 'hex').subarray(0, 31))).toBeUndefined();
    expect(() => index.set(id.slice(0, 62), at(2))).toThrow(/a chunk id is 32 bytes, got 31/);
    expect(() => index.set(Buffer.alloc(31), at(2))).toThrow(/a chunk id is 32 bytes, got 31/);
    expect(index.size).toBe(1);
  });

  it('setAt takes the id from any offset of a buffer, adds it once, and moves it only when keep says no', () => {
    const index = new ChunkIndex();
    const src = Buffer.concat([Buffer.alloc(5), Buffer.from(idOf(7), 'hex'), Buffer.alloc(3)]);
    index.setAt(src, 5, at(7), () => {
      throw new Error('keep asked about an id the index does not hold');
    });
    expect(index.get(idOf(7))).toEqual(at(7));
    const seen: unknown[] = [];
    index.setAt(src, 5, at(8), (current) => (seen.push(current), true));
    expect(seen).toEqual([at(7)]);
    expect(index.get(idOf(7))).toEqual(at(7));
    index.setAt(src, 5, at(9), () => false);
    expect(index.get(idOf(7))).toEqual(at(9));
    expect(index.size).toBe(1);
    // a dropped id has no location to keep: setAt gives it one without asking
    index.drop(idOf(7));
    expect(index.get(idOf(7))).toBeUndefined();
    index.setAt(src, 5, at(10), () => true);
    expect(index.get(idOf(7))).toEqual(at(10));
    expect([...index.entries()]).toEqual([[idOf(7), at(10)]]);
  });

  it('reserve makes room once, keeps what the index holds, and the index keeps working past the room reserved', () => {
    const index = new ChunkIndex();
    for (let i = 0; i < 100; i++) index.set(idOf(i), at(i));
    index.reserve(3000);
    index.reserve(10); // less than held: nothing to do
    for (let i = 0; i < 100; i++) expect(index.get(idOf(i))).toEqual(at(i));
    // up to the room reserved, the table is never rebuilt
    const rehash = vi.spyOn(index as unknown as { rehash(size: number): void }, 'rehash');
    for (let i = 100; i < 3000; i++) index.set(idOf(i), at(i));
    expect(rehash).not.toHaveBeenCalled();
    for (let i = 3000; i < 5000; i++) index.set(idOf(i), at(i));
    expect(rehash).toHaveBeenCalled();
    for (let i = 0; i < 5000; i++) expect(index.get(idOf(i))).toEqual(at(i));
    expect(index.size).toBe(5000);
  });
});
