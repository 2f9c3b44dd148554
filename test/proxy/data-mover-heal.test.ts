import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyDisk } from '../../proxy/data-mover.js';
import { CHUNK, DISK_ID, diskData, manifestFor, newRepo, readDisk, reopen, vhdxOf } from '../repository/helpers.js';
import type { Repository } from '../../src/repository/index.js';
import type { DiskIndex } from '../../src/repository/types.js';

const vm = { id: 'A2000000-0000-0000-0000-000000000001', name: 'mover-01' };

async function commit(repo: Repository, index: DiskIndex): Promise<void> {
  const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
  const idx = await w.writeIndex(DISK_ID, index);
  await w.commit(manifestFor(vm, [{ diskId: DISK_ID, virtualSize: index.virtualSize, indexSha256: idx.sha256 }]));
}

describe('the data mover with a damaged repository', () => {
  it('reads again, in an incremental, every unchanged chunk the repository lost or knows bad, so the restore point commits whole', async () => {
    const repo = await newRepo();
    const data = diskData(16);
    const file = await vhdxOf(data);
    const full = await copyDisk({ file, repository: repo });
    expect(full).toMatchObject({ mode: 'full', chunksNew: 16 });
    await commit(repo, full.index);
    // the only pack is lost: every chunk of the previous index is gone
    for (const p of await readdir(join(repo.path, 'packs'), { recursive: true, withFileTypes: true })) if (p.isFile()) await rm(join(p.parentPath, p.name));
    const fresh = await reopen(repo.path);
    await expect(fresh.getChunk(full.index.chunks[0]!)).rejects.toMatchObject({ code: 'integrity_failed' });
    // RCT says one chunk changed; the other 15 must not be copied from the previous index unchecked
    const inc = await copyDisk({ file, repository: fresh, previous: full.index, changedRanges: [{ offset: 0, length: 100 }] });
    expect(inc.mode).toBe('incremental');
    expect(inc.index.chunks).toEqual(full.index.chunks);
    expect(inc.chunksNew).toBe(16);
    await commit(fresh, inc.index);
    expect((await readDisk(await reopen(repo.path), inc.index)).equals(data)).toBe(true);
  });

  it('an incremental over a sound repository reads only the changed chunks, and both report progress against what they read', async () => {
    const repo = await newRepo();
    const file = await vhdxOf(diskData(8));
    const progress: Array<[number, number]> = [];
    const full = await copyDisk({ file, repository: repo, onProgress: (done, total) => void progress.push([done, total]) });
    expect(progress).toHaveLength(8);
    expect(progress.every(([done, total], i) => done === (i + 1) * CHUNK && total === 8 * CHUNK)).toBe(true);
    await commit(repo, full.index);
    progress.length = 0;
    const inc = await copyDisk({
      file,
      repository: repo,
      previous: full.index,
      changedRanges: [
        { offset: 3 * CHUNK, length: 10 },
        { offset: 6 * CHUNK + 5, length: 10 },
      ],
      onProgress: (done, total) => void progress.push([done, total]),
    });
    expect(inc).toMatchObject({ chunksNew: 0, chunksReused: 8 });
    expect(inc.bytesRead).toBeLessThan(3 * CHUNK);
    // progress counts the bytes of the chunks read, against their total
    expect(progress).toEqual([
      [CHUNK, 2 * CHUNK],
      [2 * CHUNK, 2 * CHUNK],
    ]);
  });
});
