import { readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CRC_BYTES } from '../../src/repository/blob-codec.js';
import { READ_RUN_BYTES } from '../../src/repository/pack-chunk-read.js';
import { PackReadCache } from '../../src/repository/pack-read-cache.js';
import { backup, CHUNK, diskData, manifestFor, newRepo } from './helpers.js';

const vm = { id: 'B1000000-0000-0000-0000-000000000001', name: 'dc-01' };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('verify', () => {
  it('deep: reads chunks a backup stored end to end together, as a restore does, each still checked', async () => {
    const repo = await newRepo();
    const per = READ_RUN_BYTES / CHUNK;
    await backup(repo, vm, diskData(2 * per + 3));
    const reads: number[] = [];
    const direct = PackReadCache.prototype.readDirect;
    vi.spyOn(PackReadCache.prototype, 'readDirect').mockImplementation(function (this: PackReadCache, ...args) {
      reads.push(args[2]);
      return direct.apply(this, args);
    });
    const readAt = vi.spyOn(PackReadCache.prototype, 'readAt');
    const report = await repo.verify({ deep: true });
    expect(report).toMatchObject({ ok: true, chunksChecked: 2 * per + 3, bytesHashed: (2 * per + 3) * CHUNK });
    // the blobs (each its chunk and checksum) lie end to end in one pack: three reads (a chunk a read, through the page cache, before)
    const blob = CHUNK + CRC_BYTES;
    expect(reads.sort((a, b) => b - a)).toEqual([per * blob, per * blob, 3 * blob]);
    expect(readAt).not.toHaveBeenCalled();
  });

  it('passes a sound repository, shallow and deep, counting shared chunks once', async () => {
    const repo = await newRepo();
    const data = diskData(4, (i) => i === 1);
    await backup(repo, vm, data);
    await backup(repo, vm, data); // same chunks again
    const shallow = await repo.verify();
    expect(shallow).toMatchObject({ ok: true, deep: false, restorePoints: 2, disks: 2, chunkRefs: 6, chunksChecked: 3, bytesHashed: 0, problems: [] });
    const deep = await repo.verify({ deep: true });
    expect(deep).toMatchObject({ ok: true, deep: true, chunksChecked: 3, bytesHashed: 3 * CHUNK });
  });

  it('reports a tampered or missing index, a missing configuration file and an unreadable manifest', async () => {
    const repo = await newRepo();
    const a = await backup(repo, vm, diskData(2));
    const b = await backup(repo, vm, diskData(2));
    const c = await backup(repo, vm, diskData(2));
    const rp = (id: string): string => join(repo.path, 'restore-points', id);
    const [idxA] = await readdir(join(rp(a.manifest.id), 'disks'));
    await writeFile(join(rp(a.manifest.id), 'disks', idxA), Buffer.alloc(96));
    const [idxB] = await readdir(join(rp(b.manifest.id), 'disks'));
    await unlink(join(rp(b.manifest.id), 'disks', idxB));
    await writeFile(join(rp(c.manifest.id), 'manifest.json'), '{"formatVersion":2}');
    const report = await repo.verify();
    expect(report.problems.map((p) => [p.kind, p.restorePointId])).toEqual([
      ['index_mismatch', a.manifest.id],
      ['index_missing', b.manifest.id],
      ['manifest_invalid', c.manifest.id],
    ]);
    expect(report.problems[0].file).toBe(join(rp(a.manifest.id), 'disks', idxA));
  });

  it('reports a configuration file that vanished', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    await w.writeConfigFile('Virtual Machines/x.vmcx', Buffer.from('cfg'));
    const m = await w.commit({ ...manifestFor(vm, []), configFiles: ['Virtual Machines/x.vmcx'] });
    await rm(join(repo.path, 'restore-points', m.id, 'config', 'Virtual Machines', 'x.vmcx'));
    const report = await repo.verify({ id: m.id });
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'config_missing', restorePointId: m.id })]);
  });

  it('refuses an unknown restore point id', async () => {
    const repo = await newRepo();
    await expect(repo.verify({ id: 'nope' })).rejects.toMatchObject({ code: 'not_found' });
  });
});
