import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openVhdx, writeVhdxStream } from '../../src/vhdx/index.js';
import type { VhdxChunk } from '../../src/vhdx/types.js';
import { acceptsDirectIo } from '../helpers/direct-io-probe.js';

const MiB = 1024 * 1024;
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('writeVhdxStream and the page cache', () => {
  it('writes the data blocks of a restored disk direct, the metadata through the page cache, and reads back the same bytes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvsnap-vhdx-direct-'));
    const file = join(dir, 'disk.vhdx');
    // 3 chunks of data, one of zeros (in an allocated block, so written too), and a last chunk of 1.5 KiB: a partial page
    const size = 4 * 256 * 1024 + 1536;
    const data = Buffer.alloc(size);
    randomBytes(3 * 256 * 1024).copy(data, 0);
    randomBytes(1536).copy(data, 4 * 256 * 1024);
    async function* source(): AsyncIterable<VhdxChunk> {
      for (let offset = 0; offset < size; offset += 256 * 1024) yield { offset, data: data.subarray(offset, Math.min(size, offset + 256 * 1024)) };
    }
    const { writes } = await writeVhdxStream(file, { virtualSize: size, blockSize: 2 * MiB, source: source() });
    if (acceptsDirectIo(dir)) {
      expect(writes.fallback).toBeUndefined();
      expect(writes.directBytes).toBe(4 * 256 * 1024);
      expect(writes.bufferedBytes).toBe(1536);
    } else {
      expect(writes.fallback).toMatch(/O_DIRECT|EINVAL/);
      expect(writes.directBytes).toBe(0);
    }
    const img = await openVhdx(file);
    try {
      expect((await img.read(0, size)).equals(data)).toBe(true);
    } finally {
      await img.close();
    }
  });
});
