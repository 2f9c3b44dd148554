import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyDisk } from '../../proxy/data-mover.js';
import { writeVhdxStream } from '../../src/vhdx/index.js';
import { acceptsDirectIo } from '../helpers/direct-io-probe.js';
import { CHUNK, diskData, newRepo, tempDir } from '../repository/helpers.js';

describe('the data mover and the page cache', () => {
  it('reads a snapshot past the page cache where the file system allows, in a full copy and in an incremental', async () => {
    const dir = await tempDir();
    const file = join(dir, 'disk.vhdx');
    const data = diskData(8);
    async function* source() {
      for (let off = 0; off < data.length; off += CHUNK) yield { offset: off, data: data.subarray(off, off + CHUNK) };
    }
    await writeVhdxStream(file, { virtualSize: data.length, blockSize: 1 << 20, source: source() });
    const repo = await newRepo();
    const full = await copyDisk({ file, repository: repo });
    const inc = await copyDisk({ file, repository: repo, previous: full.index, changedRanges: [{ offset: 3 * CHUNK + 10, length: 100 }] });
    expect(full.bytesRead).toBe(data.length);
    expect(inc.bytesRead).toBe(CHUNK);
    if (acceptsDirectIo(dir)) {
      // a snapshot is read once: none of it is kept in memory the proxy needs for anything else
      expect(full.bytesReadDirect).toBe(full.bytesRead);
      expect(inc.bytesReadDirect).toBe(inc.bytesRead);
    } else {
      console.log(`data-mover-direct.test: ${dir} takes no O_DIRECT; checked the buffered fallback only`);
      expect(full.bytesReadDirect).toBe(0);
    }
  });
});
