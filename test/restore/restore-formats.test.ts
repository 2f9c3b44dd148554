import { open, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { READ_RUN_BYTES } from '../../src/repository/pack-chunk-read.js';
import { READ_AHEAD_BYTES, restoreDisk } from '../../src/restore/restore-disk.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { VhdxFile } from '../../src/vhdx/vhdx-file.js';
import { backup, CHUNK, diskData, DISK_ID, failure, newRepo, tempDir } from '../repository/helpers.js';

const vm = { id: 'A3000000-0000-0000-0000-000000000001', name: 'fmt-01' };

async function vhdxBytes(file: string): Promise<Buffer> {
  const img = await openVhdx(file);
  try {
    return await img.read(0, img.virtualSize);
  } finally {
    await img.close();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('restoreDisk formats', () => {
  it('reports how long its final fsync took, in every format', async () => {
    const repo = await newRepo();
    const { manifest } = await backup(
      repo,
      vm,
      diskData(8, () => true),
    );
    const dir = await tempDir();
    // every fsync made 100 ms slower: the VHDX writer's (VhdxFile) and the raw writer's (FileHandle)
    const probe = await open(join(dir, 'probe'), 'w');
    const fileHandle = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
    await probe.close();
    for (const proto of [VhdxFile.prototype, fileHandle]) {
      const real = proto.sync;
      vi.spyOn(proto, 'sync').mockImplementation(async function (this: unknown) {
        await sleep(100);
        return real.call(this);
      });
    }
    for (const format of ['vhdx', 'vhdx-fixed', 'raw'] as const) {
      const started = performance.now();
      const r = await restoreDisk({ repository: repo, restorePointId: manifest.id, diskId: DISK_ID, target: join(dir, format), format, blockSize: 1 << 20 });
      expect(r.syncMs, format).toBeGreaterThanOrEqual(95);
      expect(r.syncMs, format).toBeLessThanOrEqual(performance.now() - started);
    }
  });

  it('writes a dynamic VHDX, a fixed VHDX and a sparse raw image with the same content', async () => {
    const repo = await newRepo();
    const data = diskData(48, (i) => i % 3 === 0 || (i >= 16 && i < 32)); // the second 1 MiB block is all zeros
    const { manifest } = await backup(repo, vm, data);
    const dir = await tempDir();
    const out = (f: string) => join(dir, f);
    const base = { repository: repo, restorePointId: manifest.id, diskId: DISK_ID, blockSize: 1 << 20 };
    await restoreDisk({ ...base, target: out('d.vhdx') });
    await restoreDisk({ ...base, target: out('f.vhdx'), format: 'vhdx-fixed' });
    await restoreDisk({ ...base, target: out('r.raw'), format: 'raw' });
    expect((await vhdxBytes(out('d.vhdx'))).equals(data)).toBe(true);
    expect((await vhdxBytes(out('f.vhdx'))).equals(data)).toBe(true);
    expect((await readFile(out('r.raw'))).equals(data)).toBe(true);
    expect((await stat(out('f.vhdx'))).size).toBeGreaterThan(data.length); // every block allocated
    expect((await stat(out('d.vhdx'))).size).toBeLessThan((await stat(out('f.vhdx'))).size);
    expect((await stat(out('r.raw'))).blocks * 512).toBeLessThan(data.length); // holes where the disk is zeros
  });

  it('writes only the pages of a chunk that hold data: its zero pages stay holes', async () => {
    const repo = await newRepo();
    const data = diskData(8);
    // chunks 1, 2 and 5 keep a few 4 KiB pages of data (chunk 2 its last one only); the others are whole
    for (const [chunk, keep] of [
      [1, [0, 3, 4]],
      [2, [15]],
      [5, [7]],
    ] as const) {
      for (let p = 0; p < CHUNK / 4096; p++)
        if (!(keep as readonly number[]).includes(p)) data.fill(0, chunk * CHUNK + p * 4096, chunk * CHUNK + (p + 1) * 4096);
    }
    const { manifest } = await backup(repo, vm, data);
    const dir = await tempDir();
    const base = { repository: repo, restorePointId: manifest.id, diskId: DISK_ID, blockSize: 1 << 20 };
    await restoreDisk({ ...base, target: join(dir, 'r.raw'), format: 'raw' });
    await restoreDisk({ ...base, target: join(dir, 'd.vhdx') });
    expect((await readFile(join(dir, 'r.raw'))).equals(data)).toBe(true);
    expect((await vhdxBytes(join(dir, 'd.vhdx'))).equals(data)).toBe(true);
    // 5 whole chunks and 7 pages (chunk 1's two zero pages between data are shorter than a hole, so
    // written), plus what the file system counts for its extent map (ext4: a block); every non-zero
    // chunk written whole would take 8 chunks
    expect((await stat(join(dir, 'r.raw'))).blocks * 512).toBeLessThan(6 * CHUNK);
  });

  it('reads READ_AHEAD_BYTES of chunks ahead of the writer, and no more, asking for READ_RUN_BYTES of them at a time', async () => {
    const repo = await newRepo();
    const ahead = READ_AHEAD_BYTES / CHUNK;
    const run = READ_RUN_BYTES / CHUNK;
    const data = diskData(ahead + run + 40);
    const { manifest } = await backup(repo, vm, data);
    // chunks leased and not yet given back, at most, over the restore; and how many each request asked for
    let held = 0;
    let most = 0;
    const asked: number[] = [];
    const leaseChunks = repo.leaseChunks.bind(repo);
    repo.leaseChunks = (ids) => {
      asked.push(ids.length);
      most = Math.max(most, (held += ids.length));
      return leaseChunks(ids).map(async (p) => {
        const l = await p;
        return { data: l.data, release: () => (held--, l.release()) };
      });
    };
    const target = join(await tempDir(), 'd.vhdx');
    await restoreDisk({ repository: repo, restorePointId: manifest.id, diskId: DISK_ID, target, blockSize: 1 << 20 });
    expect((await vhdxBytes(target)).equals(data)).toBe(true);
    expect(most).toBe(ahead);
    expect(held).toBe(0);
    // whole runs, the last one the rest of the disk
    expect(asked).toEqual([...Array<number>(Math.floor(data.length / CHUNK / run)).fill(run), (data.length / CHUNK) % run]);
  });

  it('never writes a raw image over an existing file or through a link', async () => {
    const repo = await newRepo();
    const { manifest } = await backup(repo, vm, diskData(2));
    const dir = await tempDir();
    await writeFile(join(dir, 'victim'), 'keep me');
    await symlink(join(dir, 'victim'), join(dir, 'link.raw'));
    const e = await failure(restoreDisk({ repository: repo, restorePointId: manifest.id, diskId: DISK_ID, target: join(dir, 'link.raw'), format: 'raw' }));
    expect(e.context.file).toBe(join(dir, 'link.raw'));
    expect(
      (await failure(restoreDisk({ repository: repo, restorePointId: manifest.id, diskId: DISK_ID, target: join(dir, 'victim'), format: 'raw' }))).code,
    ).toBe('already_exists');
    expect(e.code).toBe('already_exists');
    expect(await readFile(join(dir, 'victim'), 'utf8')).toBe('keep me');
  });
});
