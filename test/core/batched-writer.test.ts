import { describe, expect, it } from 'vitest';
import { BatchedWriter } from '../../src/core/batched-writer.js';

/** A write target that records each write and can hold or fail them. */
function target(opts: { fail?: number } = {}) {
  const file = Buffer.alloc(64);
  const writes: Array<{ pos: number; len: number }> = [];
  let inFlight = 0;
  let peak = 0;
  const write = async (buf: Buffer, pos: number) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    if (opts.fail === writes.length) throw new Error(`disk full at ${pos}`);
    writes.push({ pos, len: buf.length });
    buf.copy(file, pos);
  };
  return { file, writes, write, peak: () => peak };
}

describe('BatchedWriter', () => {
  it('gathers contiguous pieces into one write, splits at gaps and at the batch size, and copies what it is given', async () => {
    const t = target();
    const w = new BatchedWriter(t.write, 8, 2);
    const piece = Buffer.alloc(4);
    for (const [pos, byte] of [
      [0, 1],
      [4, 2],
      [8, 3],
      [20, 4],
    ] as const) {
      piece.fill(byte);
      await w.add(piece, pos); // the same memory each time: the writer must have copied it
    }
    await w.flush();
    expect(t.writes.sort((a, b) => a.pos - b.pos)).toEqual([
      { pos: 0, len: 8 },
      { pos: 8, len: 4 },
      { pos: 20, len: 4 },
    ]);
    expect([...t.file.subarray(0, 12)]).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect([...t.file.subarray(20, 24)]).toEqual([4, 4, 4, 4]);
  });

  it('keeps at most depth writes in flight, more than one', async () => {
    const t = target();
    const w = new BatchedWriter(t.write, 4, 3);
    for (let pos = 0; pos < 64; pos += 8) await w.add(Buffer.alloc(4, pos), pos);
    await w.flush();
    expect(t.writes).toHaveLength(8);
    expect(t.peak()).toBe(3);
  });

  it('throws a failed write from the next add or from flush', async () => {
    const t = target({ fail: 0 });
    const w = new BatchedWriter(t.write, 4, 2);
    await w.add(Buffer.alloc(4), 0);
    await w.add(Buffer.alloc(4), 8);
    await expect(
      (async () => {
        for (let pos = 16; pos < 64; pos += 8) await w.add(Buffer.alloc(4), pos);
        await w.flush();
      })(),
    ).rejects.toThrow(/disk full at 0/);
  });
});
