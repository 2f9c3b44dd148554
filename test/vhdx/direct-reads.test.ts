import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { allocAlignedShared } from '../../src/core/direct-io.js';
import { openVhdx, writeVhdxStream } from '../../src/vhdx/index.js';
import type { VhdxChunk } from '../../src/vhdx/types.js';
import { acceptsDirectIo } from '../helpers/direct-io-probe.js';
import { buildVhdxWithPendingLog } from '../helpers/vhdx-fixtures.js';
import { MiB, sha256, tempDir } from './helpers.js';

const tmp = tempDir('hvsnap-vhdx-direct-read-');
afterAll(() => tmp.cleanup());

/** A page-aligned buffer, as the data mover reads into (see proxy/data-mover-io.ts). */
const aligned = (bytes: number) => allocAlignedShared(bytes);

/** A dynamic VHDX of 3.5 MiB of random data, its last 1.5 KiB a partial page, and the bytes it holds. */
async function disk(name: string): Promise<{ file: string; data: Buffer }> {
  const file = tmp.path(name);
  const size = 3 * MiB + 512 * 1024 + 1536;
  const data = randomBytes(size);
  async function* source(): AsyncIterable<VhdxChunk> {
    for (let offset = 0; offset < size; offset += 256 * 1024) yield { offset, data: data.subarray(offset, Math.min(size, offset + 256 * 1024)) };
  }
  await writeVhdxStream(file, { virtualSize: size, blockSize: 2 * MiB, source: source() });
  return { file, data };
}

describe('VHDX reads past the page cache (directReads)', () => {
  it('reads whole pages into aligned memory direct, the partial last page buffered, and returns the same bytes', async () => {
    const { file, data } = await disk('direct.vhdx');
    const img = await openVhdx(file, { directReads: true });
    try {
      const buf = aligned(data.length);
      await img.readInto(buf, 0);
      expect(buf.equals(data)).toBe(true);
      if (acceptsDirectIo(tmp.dir)) {
        // every whole page of the payload went direct: only the 1.5 KiB tail (and no metadata: parsed at open) was buffered
        expect(img.stats.directBytesRead).toBe(data.length - 1536);
      } else {
        console.log(`direct-reads.test: ${tmp.dir} takes no O_DIRECT; checked the buffered fallback only`);
        expect(img.stats.directBytesRead).toBe(0);
      }
    } finally {
      await img.close();
    }
  });

  it('reads into memory that is not page-aligned, and without the option, through the page cache', async () => {
    const { file, data } = await disk('buffered.vhdx');
    for (const [opts, buf] of [
      [{ directReads: true }, Buffer.alloc(data.length)],
      [{}, aligned(data.length)],
    ] as const) {
      const img = await openVhdx(file, opts);
      try {
        await img.readInto(buf, 0);
        expect(buf.equals(data)).toBe(true);
        expect(img.stats.directBytesRead).toBe(0);
        expect(img.stats.fileBytesRead).toBeGreaterThanOrEqual(data.length);
      } finally {
        await img.close();
      }
    }
  });

  it('lays a pending log replayed in memory over the pages read direct', async () => {
    const f = await buildVhdxWithPendingLog(tmp.path('dirty.vhdx'));
    const img = await openVhdx(f.path, { directReads: true });
    try {
      expect(img.logState).toBe('replayed');
      const buf = aligned(img.virtualSize);
      await img.readInto(buf, 0);
      if (acceptsDirectIo(tmp.dir)) expect(img.stats.directBytesRead).toBeGreaterThan(0);
      expect(sha256(buf)).toBe(sha256(f.expected));
    } finally {
      await img.close();
    }
  });
});
