import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { isHvsnapError, type HvsnapError } from '../../src/core/errors.js';
import { decodeIndex, encodeIndex, newRestorePointId } from '../../src/repository/index.js';
import { backup, CHUNK, diskData, DISK_ID, manifestFor, newRepo, putDisk, readDisk, reopen, failure } from './helpers.js';

const vm = { id: '5B3C9A1E-7F2D-4E6A-8C1B-0D9E8F7A6B5C', name: 'sql-01' };

describe('restore points', () => {
  it('round-trips a disk, its index and configuration files', async () => {
    const repo = await newRepo();
    const data = diskData(6, (i) => i === 2, 5000);
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    const { index, written } = await putDisk(repo, data);
    expect(written).toBe(5);
    expect(index.chunks[2]).toBeNull();
    const idx = await w.writeIndex(DISK_ID, index);
    expect(idx.bytes).toBe(32 + 32 * 6);
    const vmcx = randomBytes(3000);
    await w.writeConfigFile('Virtual Machines/5B3C9A1E.vmcx', vmcx);
    await w.writeConfigFile('Virtual Machines/5B3C9A1E.vmgs', Buffer.from('gs'));
    const committed = await w.commit(
      manifestFor(vm, [{ diskId: DISK_ID, virtualSize: data.length, indexSha256: idx.sha256 }], { configFiles: ['Virtual Machines/5B3C9A1E.vmcx'] }),
    );
    expect(committed.id).toBe(w.id);
    expect(committed.formatVersion).toBe(2);
    expect(committed.configFiles).toEqual(['Virtual Machines/5B3C9A1E.vmcx', 'Virtual Machines/5B3C9A1E.vmgs']);

    const again = await reopen(repo.path);
    expect(await again.getRestorePoint(w.id)).toEqual(committed);
    const read = await again.readIndex(w.id, DISK_ID);
    expect(read).toEqual(index);
    expect((await readDisk(again, read)).equals(data)).toBe(true);
    expect((await again.readConfigFile(w.id, 'Virtual Machines/5B3C9A1E.vmcx')).equals(vmcx)).toBe(true);
    expect((await failure(again.readConfigFile(w.id, 'other.vmcx'))).code).toBe('not_found');
    expect((await failure(again.readIndex(w.id, 'no-such-disk'))).code).toBe('not_found');
  });

  it('is invisible until committed, and an aborted writer leaves nothing', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    const { index } = await putDisk(repo, diskData(2));
    await w.writeIndex(DISK_ID, index);
    await w.writeConfigFile('a.vmcx', Buffer.from('x'));
    expect(await repo.listRestorePoints()).toEqual([]);
    expect((await failure(repo.getRestorePoint(w.id))).code).toBe('not_found');
    expect(await repo.latestRestorePoint(vm.id)).toBeUndefined();
    await w.abort();
    await w.abort(); // idempotent
    expect(await readdir(join(repo.path, 'tmp'))).toEqual([]);
    expect(await readdir(join(repo.path, 'restore-points'))).toEqual([]);
    expect((await failure(w.commit(manifestFor(vm, [])))).code).toBe('input_invalid');
    expect((await failure(w.writeIndex(DISK_ID, index))).message).toContain('aborted');
  });

  it('takes the id its caller journaled, and refuses one in use without touching its folder', async () => {
    const repo = await newRepo();
    const id = newRestorePointId(vm.name);
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name, id });
    expect(w.id).toBe(id);
    await w.writeConfigFile('a.vmcx', Buffer.from('x'));
    const twice = await failure(repo.beginRestorePoint({ jobId: 'job-2', vmId: vm.id, vmName: vm.name, id }));
    expect(twice).toMatchObject({ code: 'input_invalid', message: expect.stringContaining(`${id} is in use`) });
    expect(await readFile(join(repo.path, 'tmp', id, 'config', 'a.vmcx'), 'utf8')).toBe('x');
    await w.commit(manifestFor(vm, []));
    expect((await failure(repo.beginRestorePoint({ jobId: 'job-3', vmId: vm.id, vmName: vm.name, id }))).code).toBe('input_invalid');
    expect((await failure(repo.beginRestorePoint({ jobId: 'job-3', vmId: vm.id, vmName: vm.name, id: '../x' }))).context).toMatchObject({ field: 'id' });
    expect(await readdir(join(repo.path, 'tmp'))).toEqual([]);
    // the refused writers hold no lock: gc runs
    await repo.gc();
  });

  it('leaves nothing visible when a writer is abandoned (a crash in this process)', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    const { index } = await putDisk(repo, diskData(2));
    await w.writeIndex(DISK_ID, index);
    // the writer is never committed nor aborted: another process sees nothing
    const other = await reopen(repo.path);
    expect(await other.listRestorePoints()).toEqual([]);
    expect((await other.verify()).ok).toBe(true);
    // and gc will not run while that writer's process is alive
    const e = await failure(other.gc());
    expect(e.code).toBe('repository_locked');
    expect(e.retryable).toBe(true);
    expect(e.context.pid).toBe(process.pid);
    // the journal of the job can abort it by id
    await other.abortRestorePoint(w.id);
    expect(await readdir(join(repo.path, 'tmp'))).toEqual([]);
  });

  it('makes every chunk durable before the manifest becomes visible', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    const { index } = await putDisk(repo, diskData(3));
    const idx = await w.writeIndex(DISK_ID, index);
    const order: string[] = [];
    const flush = repo.chunks.flush.bind(repo.chunks);
    const spy = vi.spyOn(repo.chunks, 'flush').mockImplementation(async () => {
      order.push(`flush, visible: ${(await repo.listRestorePoints()).length}`);
      await flush();
    });
    await w.commit(manifestFor(vm, [{ diskId: DISK_ID, virtualSize: 3 * CHUNK, indexSha256: idx.sha256 }]));
    order.push(`after commit, visible: ${(await repo.listRestorePoints()).length}`);
    expect(order).toEqual(['flush, visible: 0', 'after commit, visible: 1']);
    spy.mockRestore();
  });

  it('lists by VM name or id, oldest first, and finds the latest', async () => {
    const repo = await newRepo();
    const other = { id: 'A0000000-0000-0000-0000-000000000002', name: 'web-01' };
    const a = await backup(repo, vm, diskData(1), { createdAt: '2026-11-20T01:00:00.000Z' });
    const b = await backup(repo, other, diskData(1), { createdAt: '2026-11-21T01:00:00.000Z' });
    const c = await backup(repo, vm, diskData(1), { createdAt: '2026-11-22T01:00:00.000Z' });
    expect((await repo.listRestorePoints()).map((m) => m.id)).toEqual([a.manifest.id, b.manifest.id, c.manifest.id]);
    expect((await repo.listRestorePoints({ vm: 'SQL-01' })).map((m) => m.id)).toEqual([a.manifest.id, c.manifest.id]);
    expect((await repo.listRestorePoints({ vm: other.id.toLowerCase() })).map((m) => m.id)).toEqual([b.manifest.id]);
    expect((await repo.latestRestorePoint(vm.id))?.id).toBe(c.manifest.id);
    expect(a.manifest.id < c.manifest.id).toBe(true);
  });

  it('makes ids that are unique, sortable and safe as folder names for any VM name', async () => {
    const repo = await newRepo();
    const ids: string[] = [];
    for (const name of ['../../etc/passwd', 'Ünïcødé VM', '', 'C:\\x', 'a'.repeat(300)]) {
      const w = await repo.beginRestorePoint({ jobId: 'j', vmId: 'id', vmName: name || 'x' });
      ids.push(w.id);
      await w.abort();
    }
    for (const id of ids) expect(id).toMatch(/^\d{8}T\d{9}Z-[a-z0-9-]{1,32}-[0-9a-f]{8}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('checks the manifest against what was written', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    const { index } = await putDisk(repo, diskData(2));
    const idx = await w.writeIndex(DISK_ID, index);
    const disk = { diskId: DISK_ID, virtualSize: 2 * CHUNK, indexSha256: idx.sha256 };
    const cases: Array<[ReturnType<typeof manifestFor>, string]> = [
      [manifestFor(vm, [{ ...disk, diskId: 'other' }]), 'other'],
      [manifestFor(vm, [{ ...disk, indexSha256: 'ab'.repeat(32) }]), 'indexSha256'],
      [manifestFor(vm, [{ ...disk, virtualSize: CHUNK }]), 'virtualSize'],
      [manifestFor(vm, [disk, disk]), 'twice'],
      [manifestFor(vm, [disk], { configFiles: ['missing.vmcx'] }), 'missing.vmcx'],
      [manifestFor({ id: 'another', name: vm.name }, [disk]), 'vm.id'],
      [{ ...manifestFor(vm, [disk]), createdAt: 'yesterday' }, 'createdAt'],
    ];
    for (const [m, words] of cases) {
      const e = await failure(w.commit(m));
      expect(e.code).toBe('input_invalid');
      expect(e.message).toContain(words);
    }
    // the writer stays usable after a refused commit
    expect((await w.commit(manifestFor(vm, [disk]))).disks).toHaveLength(1);
    expect((await failure(w.commit(manifestFor(vm, [disk])))).message).toContain('committed');
  });

  it('commits once when commit is called twice at the same time', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    const results = await Promise.allSettled([w.commit(manifestFor(vm, [])), w.commit(manifestFor(vm, []))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(await repo.listRestorePoints()).toHaveLength(1);
    expect(w.status).toBe('committed');
  });

  it('refuses unsafe configuration file names and an index of another chunk size', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'job-1', vmId: vm.id, vmName: vm.name });
    for (const name of ['../evil', '/etc/passwd', 'a/../../b', 'C:/x', 'a\\b', '', 'a//b']) {
      const e = await failure(w.writeConfigFile(name, Buffer.from('x')));
      expect(e.code).toBe('input_invalid');
    }
    const e = await failure(w.writeIndex(DISK_ID, { chunkSize: 2 * CHUNK, virtualSize: 2 * CHUNK, chunks: [null] }));
    expect(e.context).toMatchObject({ field: 'chunkSize', disk: DISK_ID });
    const count = await failure(w.writeIndex(DISK_ID, { chunkSize: CHUNK, virtualSize: 3 * CHUNK, chunks: [null] }));
    expect(count.context.field).toBe('chunks');
    await w.abort();
  });

  it('detects a tampered index and a damaged manifest, naming the file', async () => {
    const repo = await newRepo();
    const { manifest } = await backup(repo, vm, diskData(3));
    const disks = join(repo.path, 'restore-points', manifest.id, 'disks');
    const [name] = await readdir(disks);
    const file = join(disks, name);
    const buf = await readFile(file);
    buf[40] ^= 1;
    await writeFile(file, buf);
    const e = await failure(repo.readIndex(manifest.id, DISK_ID));
    expect(e.code).toBe('integrity_failed');
    expect(e.context.file).toBe(file);

    const mfile = join(repo.path, 'restore-points', manifest.id, 'manifest.json');
    await writeFile(mfile, JSON.stringify({ ...manifest, disks: 'none' }));
    const m = await failure(repo.getRestorePoint(manifest.id));
    expect(m.code).toBe('integrity_failed'); // no checksum: not a manifest this repository wrote
    expect(m.context).toMatchObject({ file: mfile, field: 'checksum' });
    expect(await repo.listRestorePoints()).toEqual([]); // skipped, with a warning
    await writeFile(mfile, '{');
    expect((await failure(repo.getRestorePoint(manifest.id))).context.file).toBe(mfile);
  });
});

describe('index format', () => {
  const index = { chunkSize: CHUNK, virtualSize: 2 * CHUNK + 7, chunks: ['ab'.repeat(32), null, 'cd'.repeat(32)] };

  it('round-trips, with the documented layout', () => {
    const buf = encodeIndex(index);
    expect(buf.subarray(0, 8).toString('latin1')).toBe('HVSNIDX\0');
    expect(buf.readUInt32LE(8)).toBe(1);
    expect(buf.readUInt32LE(12)).toBe(CHUNK);
    expect(Number(buf.readBigUInt64LE(16))).toBe(2 * CHUNK + 7);
    expect(Number(buf.readBigUInt64LE(24))).toBe(3);
    expect(buf.length).toBe(32 + 3 * 32);
    expect(buf.subarray(64, 96).every((b) => b === 0)).toBe(true);
    expect(decodeIndex(buf, 'x.idx')).toEqual(index);
  });

  it('names the file and offset of a truncated or foreign file', () => {
    const buf = encodeIndex(index);
    const cases: Array<[Buffer, number]> = [
      [buf.subarray(0, 20), 0],
      [buf.subarray(0, buf.length - 1), buf.length - 1],
      [Buffer.concat([buf, Buffer.alloc(1)]), buf.length],
      [Buffer.concat([Buffer.from('NOTANIDX'), buf.subarray(8)]), 0],
    ];
    for (const [b, offset] of cases) {
      let err: unknown;
      try {
        decodeIndex(b, '/r/x.idx');
      } catch (e) {
        err = e;
      }
      expect(isHvsnapError(err) && err.code).toBe('repository_invalid');
      expect((err as HvsnapError).context).toMatchObject({ file: '/r/x.idx', offset });
    }
    const badCount = Buffer.from(buf);
    badCount.writeBigUInt64LE(4n, 24);
    expect(() => decodeIndex(badCount, 'y.idx')).toThrow(/chunk count 4/);
  });
});
