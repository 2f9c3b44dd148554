import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allocAlignedShared } from '../../src/core/direct-io.js';
import { PackReadCache } from '../../src/repository/pack-read-cache.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('PackReadCache', () => {
  it('never closes a handle under a read: concurrent reads of more packs than it keeps open each get their own file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvsnap-readcache-'));
    // more files than the 16 handles kept, each filled with its own byte
    const files = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const file = join(dir!, `pack-${i}`);
        await writeFile(file, Buffer.alloc(3 * 4096 + 123, i + 1));
        return file;
      }),
    );
    const cache = new PackReadCache();
    try {
      const reads = [];
      for (let round = 0; round < 3; round++)
        for (const [i, file] of files.entries()) {
          reads.push(cache.readAt(file, 100 + round, 5000).then((b) => ({ i, b })));
          reads.push(cache.readDirect(file, 4096 + 7 * round, 4096, (n) => Buffer.from(allocAlignedShared(n), 0, n)).then((b) => ({ i, b })));
        }
      for (const { i, b } of await Promise.all(reads))
        expect(
          b.every((x) => x === i + 1),
          `bytes of pack-${i}`,
        ).toBe(true);
    } finally {
      await cache.close();
    }
  });
});
