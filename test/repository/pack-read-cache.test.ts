import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allocAlignedShared } from '../../src/core/direct-io.js';
import { PackReadCache, READ_FDS } from '../../src/repository/pack-read-cache.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('PackReadCache', () => {
  it('never closes a handle under a read: concurrent reads of more packs than it keeps open each get their own file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvsnap-readcache-'));
    // more files than the handles kept, each filled with its own byte
    const files = await Promise.all(
      Array.from({ length: READ_FDS * 2 + 10 }, async (_, i) => {
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
          reads.push(cache.readDirect(file, 4096 + 7 * round, 4096, (n) => allocAlignedShared(n)).then((b) => ({ i, b })));
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

  it('closes the least recently used handle first: a pack read again stays open while others come and go', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvsnap-readcache-'));
    // a restore point after many incrementals reads the full backup's pack between the incrementals' packs
    const files = await Promise.all(
      Array.from({ length: READ_FDS + 1 }, async (_, i) => {
        const file = join(dir!, `pack-${i}`);
        await writeFile(file, Buffer.alloc(4096, i + 1));
        return file;
      }),
    );
    const cache = new PackReadCache();
    try {
      await cache.readAt(files[0], 0, 10);
      for (const f of files.slice(1, READ_FDS)) await cache.readAt(f, 0, 10);
      await cache.readAt(files[0], 0, 10);
      // one handle too many: the least recently used goes (pack-1), not the first opened (pack-0)
      await cache.readAt(files[READ_FDS], 0, 10);
      // a file that is gone reads only through a handle still open
      await unlink(files[0]);
      expect((await cache.readAt(files[0], 0, 10)).every((x) => x === 1)).toBe(true);
      await unlink(files[1]);
      await expect(cache.readAt(files[1], 0, 10)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await cache.close();
    }
  });
});
