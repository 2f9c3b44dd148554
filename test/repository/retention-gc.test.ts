import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isoWeek, selectRetention, type Repository } from '../../src/repository/index.js';
import { RepositoryLocks } from '../../src/repository/lock.js';
import { readPackEntries } from '../../src/repository/pack-reader.js';
import type { RestorePointManifest } from '../../src/repository/types.js';
import { silentLogger } from '../../src/core/logger.js';
import { backup, diskData, manifestFor, newRepo, reopen } from './helpers.js';

const vmA = { id: 'C1000000-0000-0000-0000-00000000000A', name: 'app-a' };
const vmB = { id: 'C1000000-0000-0000-0000-00000000000B', name: 'app-b' };

function fake(vm: { id: string; name: string }, createdAt: string): RestorePointManifest {
  return { ...manifestFor(vm, []), createdAt, id: `${createdAt.replace(/[-:.]/g, '')}-${vm.name}`, formatVersion: 2 };
}

/** chunks the packs on disk list in their trailers */
const chunkCount = async (repo: Repository): Promise<number> => {
  let n = 0;
  for (const e of await readdir(join(repo.path, 'packs'), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) n += (await readPackEntries(join(e.parentPath, e.name), repo.chunks.format)).entries.length;
  }
  return n;
};
const packBytes = async (repo: Repository): Promise<number> => {
  let n = 0;
  for (const e of await readdir(join(repo.path, 'packs'), { recursive: true, withFileTypes: true }))
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  return n;
};

describe('retention policy', () => {
  it('computes ISO weeks in UTC', () => {
    expect(isoWeek(new Date('2026-01-01T12:00:00Z'))).toBe('2026-W01');
    expect(isoWeek(new Date('2024-12-30T00:00:00Z'))).toBe('2025-W01');
    expect(isoWeek(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53');
    expect(isoWeek(new Date('2026-11-26T23:59:59Z'))).toBe('2026-W48');
  });

  it('keeps the last N, the newest of each of N days and N weeks, per VM', () => {
    const times = [
      '2026-11-02T01:00:00Z',
      '2026-11-09T01:00:00Z',
      '2026-11-20T01:00:00Z',
      '2026-11-25T01:00:00Z',
      '2026-11-26T01:00:00Z',
      '2026-11-26T13:00:00Z',
    ];
    const manifests = [...times.map((t) => fake(vmA, t)), fake(vmB, '2026-10-01T00:00:00Z')];
    const only = (p: Parameters<typeof selectRetention>[1]) => {
      const r = selectRetention(manifests, p);
      return {
        kept: r.kept.map((d) => `${d.vmName} ${d.createdAt.slice(5, 13)} ${d.reasons.join('+')}`),
        deleted: r.deleted.map((d) => d.createdAt.slice(5, 13)),
      };
    };
    expect(only({ keepLast: 2 })).toEqual({
      kept: ['app-a 11-26T13 last 1', 'app-a 11-26T01 last 2', 'app-b 10-01T00 last 1'],
      deleted: ['11-25T01', '11-20T01', '11-09T01', '11-02T01'],
    });
    expect(only({ keepDaily: 2 }).kept).toEqual(['app-a 11-26T13 daily 2026-11-26', 'app-a 11-25T01 daily 2026-11-25', 'app-b 10-01T00 daily 2026-10-01']);
    expect(only({ keepLast: 1, keepWeekly: 3 }).kept).toEqual([
      'app-a 11-26T13 last 1+weekly 2026-W48',
      'app-a 11-20T01 weekly 2026-W47',
      'app-a 11-09T01 weekly 2026-W46',
      'app-b 10-01T00 last 1+weekly 2026-W40',
    ]);
  });

  it('refuses a policy that keeps nothing, or a bad count, naming the option', () => {
    expect(() => selectRetention([], {})).toThrow(/keeps nothing/);
    expect(() => selectRetention([], { keepLast: 0 })).toThrow(/keeps nothing/);
    expect(() => selectRetention([], { keepDaily: -1 })).toThrow(/keepDaily/);
    expect(() => selectRetention([], { keepWeekly: 1.5 })).toThrow(/keepWeekly/);
  });
});

describe('retention and garbage collection', () => {
  it('deletes what retention removes only without dryRun, then gc frees chunks no one references', async () => {
    const repo = await newRepo();
    const shared = diskData(2);
    const older = await backup(repo, vmA, Buffer.concat([shared, diskData(2)]), { createdAt: '2026-11-24T01:00:00.000Z' });
    const newer = await backup(repo, vmA, Buffer.concat([shared, diskData(2)]), { createdAt: '2026-11-25T01:00:00.000Z' });
    await backup(repo, vmB, diskData(1), { createdAt: '2026-11-01T01:00:00.000Z' });
    expect(await chunkCount(repo)).toBe(7);

    const dry = await repo.applyRetention({ keepLast: 1, dryRun: true });
    expect(dry.deleted.map((d) => d.id)).toEqual([older.manifest.id]);
    expect(await repo.listRestorePoints()).toHaveLength(3);

    const done = await repo.applyRetention({ keepLast: 1, vm: 'app-a' });
    expect(done).toMatchObject({ dryRun: false, deleted: [expect.objectContaining({ id: older.manifest.id, reasons: [] })] });
    expect((await repo.listRestorePoints()).map((m) => m.id)).not.toContain(older.manifest.id);
    expect(await chunkCount(repo)).toBe(7); // chunks stay until gc

    // the older backup's pack is half live: the default threshold keeps it as it is
    const bytes = await packBytes(repo);
    expect(await repo.gc()).toMatchObject({ chunksDeleted: 0, packsRewritten: 0, bytesFreed: 0 });
    expect(await chunkCount(repo)).toBe(7);
    const gc = await repo.gc({ repackBelow: 1 });
    expect(gc).toMatchObject({ chunksDeleted: 2, chunksKept: 5, packsRewritten: 1, packsDeleted: 1 });
    expect(await chunkCount(repo)).toBe(5);
    expect(bytes - (await packBytes(repo))).toBeGreaterThanOrEqual(2 * repo.chunkSize);
    expect((await repo.verify({ deep: true })).ok).toBe(true);
    expect((await repo.readIndex(newer.manifest.id, newer.manifest.disks[0].diskId)).chunks.slice(0, 2)).toEqual(older.index.chunks.slice(0, 2));
    expect(await repo.gc({ repackBelow: 1 })).toMatchObject({ chunksDeleted: 0, bytesFreed: 0 });
    expect(await repo.deleteRestorePoint(older.manifest.id)).toBe(false);
  });

  it('refuses to collect while a restore point is being written, then collects its leftovers after abort', async () => {
    const repo = await newRepo();
    const w = await repo.beginRestorePoint({ jobId: 'j', vmId: vmA.id, vmName: vmA.name });
    const { id } = await repo.putChunk(diskData(1));
    await expect(repo.gc()).rejects.toMatchObject({ code: 'repository_locked', retryable: true });
    await expect((await reopen(repo.path)).gc()).rejects.toMatchObject({ code: 'repository_locked' });
    expect(await repo.hasChunk(id!)).toBe(true);
    await w.abort();
    expect(await repo.gc()).toMatchObject({ chunksDeleted: 1 });
    expect(await repo.hasChunk(id!)).toBe(false);
  });

  it('never deletes a chunk a running backup just reused from a deleted restore point', async () => {
    const repo = await newRepo();
    const data = diskData(2);
    const old = await backup(repo, vmA, data);
    const w = await repo.beginRestorePoint({ jobId: 'job-2', vmId: vmA.id, vmName: vmA.name });
    const reused = await repo.putChunk(data.subarray(0, repo.chunkSize));
    expect(reused.written).toBe(false); // present: not written again
    expect(await repo.deleteRestorePoint(old.manifest.id)).toBe(true);
    await expect((await reopen(repo.path)).gc()).rejects.toMatchObject({ code: 'repository_locked' });
    const index = { chunkSize: repo.chunkSize, virtualSize: repo.chunkSize, chunks: [reused.id] };
    const idx = await w.writeIndex('disk0', index);
    await w.commit(manifestFor(vmA, [{ diskId: 'disk0', virtualSize: repo.chunkSize, indexSha256: idx.sha256 }], { jobId: 'job-2' }));
    expect(await repo.gc({ repackBelow: 1 })).toMatchObject({ chunksDeleted: 1, chunksKept: 1 });
    expect((await repo.verify({ deep: true })).ok).toBe(true);
  });

  it('makes a writer wait for a running gc, and give up with repository_locked after its timeout', async () => {
    const repo = await newRepo();
    const patient = await reopen(repo.path, 5_000);
    const impatient = await reopen(repo.path, 150);
    const gcLock = await new RepositoryLocks(join(repo.path, 'locks'), repo.path, silentLogger).acquireExclusive('gc');
    await expect(impatient.beginRestorePoint({ jobId: 'j', vmId: vmA.id, vmName: vmA.name })).rejects.toMatchObject({
      code: 'repository_locked',
      retryable: true,
    });
    const waiting = patient.beginRestorePoint({ jobId: 'j', vmId: vmA.id, vmName: vmA.name });
    let began = false;
    void waiting.then(() => (began = true));
    await new Promise((r) => setTimeout(r, 250));
    expect(began).toBe(false);
    await gcLock.release();
    const w = await waiting;
    expect(w.id).toContain('app-a');
    await w.abort();
  });

  it('removes stale locks of dead processes, temp folders and packs no index names', async () => {
    const repo = await newRepo();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const owner = { pid: dead, host: hostname(), token: 'feedfacefeedface', purpose: 'backup', since: new Date().toISOString() };
    await writeFile(join(repo.path, 'locks', 'shared-feedfacefeedface.json'), JSON.stringify({ ...owner, kind: 'shared' }));
    await writeFile(join(repo.path, 'locks', 'gc.json'), JSON.stringify({ ...owner, kind: 'exclusive', token: 'deadbeefdeadbeef' }));
    await mkdir(join(repo.path, 'tmp', '20261126T000000000Z-x-00000000', 'disks'), { recursive: true });
    await mkdir(join(repo.path, 'packs', 'ab'), { recursive: true });
    await writeFile(join(repo.path, 'packs', 'ab', 'ab'.repeat(16)), 'HVSNPACK partial, never sealed');
    await writeFile(join(repo.path, 'packs', 'ab', '.x-1.tmp'), 'partial');
    const gc = await repo.gc();
    expect(gc).toMatchObject({ chunksDeleted: 0, tempRemoved: 1, packsDeleted: 1 });
    expect(await readdir(join(repo.path, 'locks'))).toEqual([]);
    expect(await readdir(join(repo.path, 'tmp'))).toEqual([]);
    expect(await readdir(join(repo.path, 'packs', 'ab'))).toEqual([]);
  });

  it('keeps chunks put outside any writer protected until a writer adopts them or the repository is closed', async () => {
    const repo = await newRepo();
    const early = await repo.putChunk(diskData(1));
    await expect(repo.gc()).rejects.toMatchObject({ code: 'repository_locked' });
    await repo.close();
    expect(await repo.gc()).toMatchObject({ chunksDeleted: 1 });
    expect(await repo.hasChunk(early.id!)).toBe(false);
  });

  it('treats a lock of a live process as live, and one whose pid was reused as stale', async () => {
    const repo = await newRepo();
    const stat = await readFile(`/proc/${process.ppid}/stat`, 'utf8');
    const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const lock = (ticks: string) =>
      JSON.stringify({
        kind: 'shared',
        token: 'abcabcabcabcabca',
        pid: process.ppid,
        host: hostname(),
        startTicks: ticks,
        purpose: 'backup',
        since: new Date().toISOString(),
      });
    const file = join(repo.path, 'locks', 'shared-abcabcabcabcabca.json');
    await writeFile(file, lock(startTicks));
    await expect(repo.gc()).rejects.toMatchObject({ code: 'repository_locked', context: { pid: process.ppid } });
    await writeFile(file, lock('1')); // same pid, another process start: the pid was reused
    expect(await repo.gc()).toMatchObject({ chunksDeleted: 0 });
    expect(await readdir(join(repo.path, 'locks'))).toEqual([]);
  });

  it('stops before deleting anything when a manifest is unreadable', async () => {
    const repo = await newRepo();
    const { manifest } = await backup(repo, vmA, diskData(2));
    const w = await repo.beginRestorePoint({ jobId: 'j', vmId: vmA.id, vmName: vmA.name });
    const orphan = await repo.putChunk(diskData(1));
    await w.abort();
    await writeFile(join(repo.path, 'restore-points', manifest.id, 'manifest.json'), 'garbage');
    await expect(repo.gc()).rejects.toMatchObject({ code: 'repository_invalid', context: { restorePoint: manifest.id } });
    expect(await repo.hasChunk(orphan.id!)).toBe(true);
  });
});
