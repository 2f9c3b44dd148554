import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyDisk } from '../../proxy/data-mover.js';
import { acceptsDirectIo } from '../helpers/direct-io-probe.js';
import { CHUNK, diskData, newRepo, vhdxOf } from '../repository/helpers.js';

describe('the data mover and the page cache', () => {
  it('reads a snapshot past the page cache where the file system allows, in a full copy and in an incremental', async () => {
    const data = diskData(8);
    const file = await vhdxOf(data);
    const dir = dirname(file);
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
