import { mkdir, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { HvsnapError } from '../../src/core/errors.js';
import { codecPool } from '../../src/repository/codec-pool.js';
import type { Repository } from '../../src/repository/index.js';
import type { PackFormat } from '../../src/repository/pack-format.js';
import { readPackEntries } from '../../src/repository/pack-reader.js';
import { backup, CHUNK, diskData, DISK_ID, failure, manifestFor, newRepo, readDisk, reopen } from './helpers.js';

const vm = { id: 'D1000000-0000-0000-0000-000000000001', name: 'heal-01' };

/** A pack whose header and trailer reads fail as the system would fail them (EIO), though its bytes are sound. */
const refused = vi.hoisted(() => ({ pack: undefined as string | undefined }));
vi.mock('../../src/repository/pack-reader.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/repository/pack-reader.js')>();
  return {
    ...real,
    readPackEntries: (file: string, format: PackFormat) =>
      file === refused.pack ? Promise.reject(Object.assign(new Error(`EIO: i/o error, read`), { code: 'EIO' })) : real.readPackEntries(file, format),
  };
});

async function packsOf(repo: Repository): Promise<string[]> {
  return (await readdir(join(repo.path, 'packs'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Positions of the chunks `damage` spoiled, as verify must name them. */
type Damage = (repo: Repository, ids: Array<string | null>) => Promise<number[]>;

const damages: Record<string, Damage> = {
  'a corrupted chunk': async (repo, ids) => {
    let pack = '';
    let e;
    for (const p of await packsOf(repo)) {
      e ??= (await readPackEntries(p, repo.chunks.format)).entries.find((x) => x.id === ids[3]);
      if (e && !pack) pack = p;
    }
    if (!e) throw new Error('chunk 3 is in no pack');
    const bytes = await readFile(pack);
    bytes[e.offset + (e.length >> 1)] ^= 0x55;
    await writeFile(pack, bytes);
    return [3];
  },
  'a truncated pack': async (repo, ids) => {
    const [pack] = await packsOf(repo);
    const { entries } = await readPackEntries(pack, repo.chunks.format);
    const cut = entries.find((x) => x.id === ids[4])!;
    await truncate(pack, cut.offset + 10); // chunks 4 and 5 lose their bytes, the trailer is gone
    return [4, 5];
  },
  'a deleted pack': async (repo) => {
    for (const p of await packsOf(repo)) await unlink(p);
    return [0, 1, 2, 3, 4, 5];
  },
  'a damaged index file': async (repo) => {
    const [file] = await readdir(join(repo.path, 'index'));
    const bytes = await readFile(join(repo.path, 'index', file));
    bytes[40] ^= 1;
    await writeFile(join(repo.path, 'index', file), bytes);
    return [0, 1, 2, 3, 4, 5];
  },
};

describe('self-healing', () => {
  for (const [what, damage] of Object.entries(damages)) {
    it(`finds ${what} with verify --deep, never restores it as data, and heals it with the next backup`, async () => {
      const repo = await newRepo();
      const data = diskData(6);
      const first = await backup(repo, vm, data);
      const spoiled = await damage(repo, first.index.chunks);
      const fresh = await reopen(repo.path); // as the next process sees it

      const report = await fresh.verify({ deep: true });
      expect(report.ok).toBe(false);
      const found = report.problems.filter((p) => p.restorePointId === first.manifest.id && p.chunkIndex !== undefined).map((p) => p.chunkIndex);
      expect(found).toEqual(spoiled); // every damaged chunk, nothing else
      expect((await failure(readDisk(fresh, first.index))).code).toBe('integrity_failed');

      // the next backup of the same data writes good copies: both restore points restore again
      const second = await backup(fresh, vm, data);
      expect(second.index.chunks).toEqual(first.index.chunks);
      const after = await reopen(repo.path);
      expect((await readDisk(after, second.index)).equals(data)).toBe(true);
      expect((await readDisk(after, first.index)).equals(data)).toBe(true);
      if (what !== 'a damaged index file') expect(await readdir(join(repo.path, 'bad'))).toHaveLength(spoiled.length);
      await after.close();
      await fresh.close();
      const gc = await (await reopen(repo.path)).gc();
      expect(gc.chunksKept).toBe(6);
      const final = await reopen(repo.path);
      expect(await final.verify({ deep: true })).toMatchObject({ ok: true, problems: [] });
      expect(await readdir(join(repo.path, 'bad'))).toEqual([]); // the bad copies went with their packs
    });
  }

  it('quarantines nothing when the check itself fails (the codec stopped), not the copy', async () => {
    const repo = await newRepo();
    const data = diskData(3);
    const first = await backup(repo, vm, data);
    const ids = first.index.chunks as string[];
    const stopped = vi.spyOn(codecPool(), 'open').mockRejectedValue(new HvsnapError('internal', 'codec worker stopped: exit code 1'));
    try {
      expect((await failure(repo.getChunk(ids[0]))).code).toBe('internal');
      expect((await failure(repo.leaseChunk(ids[1]))).code).toBe('internal');
      expect((await failure(repo.chunks.copyStored(ids[2]))).code).toBe('internal'); // gc stops rather than drop a sound copy
    } finally {
      stopped.mockRestore();
    }
    expect(repo.chunks.badCopies()).toEqual([]);
    expect(await readdir(join(repo.path, 'bad'))).toEqual([]);
    expect((await readDisk(await reopen(repo.path), first.index)).equals(data)).toBe(true);
  });

  it('verify --repair rebuilds a damaged index from the packs, with nothing lost', async () => {
    const repo = await newRepo();
    const data = diskData(6);
    const first = await backup(repo, vm, data);
    await damages['a damaged index file'](repo, first.index.chunks);
    await repo.close();
    const fresh = await reopen(repo.path);
    expect((await fresh.verify()).ok).toBe(false);
    const r = await fresh.repair();
    expect(r).toMatchObject({ indexFilesReplaced: 1, affected: [] });
    expect(await fresh.verify({ deep: true })).toMatchObject({ ok: true });
    expect((await readDisk(await reopen(repo.path), first.index)).equals(data)).toBe(true);
  });

  it('verify --repair drops what cannot be healed and lists the restore points affected; a backup heals them', async () => {
    const repo = await newRepo();
    const data = diskData(6);
    const first = await backup(repo, vm, data);
    const other = await backup(repo, { id: 'D1000000-0000-0000-0000-000000000002', name: 'other' }, diskData(2));
    await damages['a corrupted chunk'](repo, first.index.chunks);
    await repo.close();
    const fresh = await reopen(repo.path);
    const r = await fresh.repair();
    expect(r).toMatchObject({ chunksDropped: 1, affected: [{ restorePointId: first.manifest.id, vm: vm.name, missingChunks: 1 }] });
    const report = await fresh.verify();
    expect(report.problems.map((p) => [p.kind, p.chunkIndex])).toEqual([['chunk_missing', 3]]);
    expect((await readDisk(fresh, other.index)).length).toBe(2 * CHUNK); // the rest is intact
    await backup(fresh, vm, data);
    expect(await (await reopen(repo.path)).verify({ deep: true })).toMatchObject({ ok: true });
  });

  it('verify --repair stops, removing nothing, when the system refuses to read a pack (EIO): that is not damage', async () => {
    const repo = await newRepo();
    const data = diskData(6);
    const first = await backup(repo, vm, data);
    await repo.close();
    const packs = await packsOf(repo);
    refused.pack = packs[0];
    const fresh = await reopen(repo.path);
    try {
      const e = await failure(fresh.repair());
      expect(e).toMatchObject({ code: 'repository_invalid', context: { file: packs[0] } });
      expect(e.message).toBe(`repair stopped before removing anything: cannot read pack ${packs[0]}: EIO: i/o error, read`);
    } finally {
      refused.pack = undefined;
      await fresh.close();
    }
    expect(await packsOf(repo)).toEqual(packs);
    expect((await readDisk(await reopen(repo.path), first.index)).equals(data)).toBe(true);
  });

  it('verify --repair stops when a chunk cannot be checked (the codec stopped), instead of counting it dropped and rewriting its pack', async () => {
    const repo = await newRepo();
    const data = diskData(3);
    const first = await backup(repo, vm, data);
    await repo.close();
    const packs = await packsOf(repo);
    const fresh = await reopen(repo.path);
    const stopped = vi.spyOn(codecPool(), 'open').mockRejectedValueOnce(new HvsnapError('internal', 'codec worker stopped: exit code 1'));
    try {
      const e = await failure(fresh.repair());
      expect(e.code).toBe('repository_invalid');
      expect(e.message).toMatch(
        /^repair stopped before removing anything: cannot check chunk [0-9a-f]{64} of pack [0-9a-f]{32}: codec worker stopped: exit code 1$/,
      );
    } finally {
      stopped.mockRestore();
      await fresh.close();
    }
    expect(await packsOf(repo)).toEqual(packs);
    expect(await readdir(join(repo.path, 'bad'))).toEqual([]);
    expect((await readDisk(await reopen(repo.path), first.index)).equals(data)).toBe(true);
  });

  it('verify --repair lists a restore point whose disk index is damaged, or whose manifest is unreadable, as affected', async () => {
    const repo = await newRepo();
    const first = await backup(repo, vm, diskData(3));
    const second = await backup(repo, { id: 'D1000000-0000-0000-0000-000000000002', name: 'other' }, diskData(2));
    const [indexFile] = await readdir(join(repo.path, 'restore-points', first.manifest.id, 'disks'));
    const file = join(repo.path, 'restore-points', first.manifest.id, 'disks', indexFile);
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(file, bytes);
    await writeFile(join(repo.path, 'restore-points', second.manifest.id, 'manifest.json'), '{ "cut short');
    await repo.close();
    const fresh = await reopen(repo.path);
    const r = await fresh.repair();
    expect(r.affected).toEqual(
      [
        {
          restorePointId: first.manifest.id,
          vm: vm.name,
          missingChunks: 0,
          unreadable: [
            expect.stringMatching(new RegExp(`^index of disk ${DISK_ID.replace(/\\/g, '\\\\')}: index file .+ has SHA-256 [0-9a-f]{64}; the manifest records`)),
          ],
        },
        { restorePointId: second.manifest.id, vm: '', missingChunks: 0, unreadable: [expect.stringMatching(/^manifest: /)] },
      ].sort((a, b) => a.restorePointId.localeCompare(b.restorePointId)),
    );
    await fresh.close();
  });

  it('verify --repair does not call a restore point unreadable when the system refuses the read (EISDIR): it stops, naming the file', async () => {
    const repo = await newRepo();
    const first = await backup(repo, vm, diskData(2));
    const disks = join(repo.path, 'restore-points', first.manifest.id, 'disks');
    const [indexFile] = await readdir(disks);
    await rm(join(disks, indexFile));
    await mkdir(join(disks, indexFile)); // read() of it fails with EISDIR: no verdict on the index
    await repo.close();
    const fresh = await reopen(repo.path);
    const e = await failure(fresh.repair());
    expect(e.code).toBe('repository_invalid');
    expect(e.message).toMatch(
      new RegExp(
        `^repair done, but stopped while listing the restore points affected: cannot read the index of disk .+ in restore point ${first.manifest.id}: cannot read index file .+`,
      ),
    );
    expect(e.context.file).toBe(join(disks, indexFile));
    await fresh.close();
  });

  it('commits no restore point that references a missing or known-bad chunk', async () => {
    const repo = await newRepo();
    const data = diskData(3);
    const first = await backup(repo, vm, data);
    await damages['a corrupted chunk'](repo, [null, null, null, first.index.chunks[2]]);
    await failure(repo.getChunk(first.index.chunks[2]!)); // found bad on a read: quarantined
    // an incremental that copies the previous index unchecked must not commit
    const w = await repo.beginRestorePoint({ jobId: 'job-2', vmId: vm.id, vmName: vm.name });
    const idx = await w.writeIndex(DISK_ID, first.index);
    const e = await failure(w.commit(manifestFor(vm, [{ diskId: DISK_ID, virtualSize: data.length, indexSha256: idx.sha256 }], { jobId: 'job-2' })));
    expect(e.code).toBe('integrity_failed');
    expect(e.message).toContain('chunk 2');
    await w.abort();
    const gone = await repo.beginRestorePoint({ jobId: 'job-3', vmId: vm.id, vmName: vm.name });
    const idx2 = await gone.writeIndex(DISK_ID, { ...first.index, chunks: [first.index.chunks[0], 'ee'.repeat(32), null] });
    expect(
      (await failure(gone.commit(manifestFor(vm, [{ diskId: DISK_ID, virtualSize: data.length, indexSha256: idx2.sha256 }], { jobId: 'job-3' })))).code,
    ).toBe('integrity_failed');
    await gone.abort();
    expect((await repo.listRestorePoints()).map((m) => m.id)).toEqual([first.manifest.id]);
  });

  it('detects a manifest edited by hand, and gc passes over a stray file in restore-points/', async () => {
    const repo = await newRepo();
    const { manifest } = await backup(repo, vm, diskData(2));
    const file = join(repo.path, 'restore-points', manifest.id, 'manifest.json');
    const stored = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...stored, vm: { ...stored.vm, name: 'someone-else' } }, null, 2));
    const e = await failure(repo.getRestorePoint(manifest.id));
    expect(e).toMatchObject({ code: 'integrity_failed', context: { file, field: 'checksum' } });
    expect((await repo.verify()).problems.map((p) => p.kind)).toEqual(['manifest_invalid']);
    await writeFile(file, JSON.stringify(stored, null, 2)); // put back: sound again
    expect((await repo.verify()).ok).toBe(true);
    await writeFile(join(repo.path, 'restore-points', 'README.txt'), 'notes an admin left here\n');
    await expect(repo.gc()).resolves.toMatchObject({ chunksKept: 2 });
    expect(await repo.listRestorePoints()).toHaveLength(1);
    await rm(join(repo.path, 'restore-points', 'README.txt'));
  });
});
