import { randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CodecPool, loadCodec, type OpenMode } from '../../src/repository/codec-pool.js';
import { REPOSITORY_FILE, type Repository } from '../../src/repository/index.js';
import type { PackEntry } from '../../src/repository/pack-format.js';
import { readPackEntries } from '../../src/repository/pack-reader.js';
import { backup, CHUNK, diskData, failure, filesUnder, newRepo, reopen } from './helpers.js';

const vm = { id: 'C1000000-0000-0000-0000-000000000001', name: 'fs-01' };

afterEach(() => {
  vi.restoreAllMocks();
});

/** The one pack of `repo`, its version (header bytes 8-11) and its entries. */
async function onlyPack(repo: Repository): Promise<{ file: string; version: number; entries: PackEntry[] }> {
  const [file, ...more] = await filesUnder(join(repo.path, 'packs'));
  expect(more).toEqual([]);
  const fh = await open(file, 'r');
  const head = Buffer.alloc(16);
  await fh.read(head, 0, 16, 0);
  await fh.close();
  return { file, version: head.readUInt32LE(8), entries: (await readPackEntries(file, repo.chunks.format)).entries };
}

/** An empty repository as a version 2 hvsnap made it (the two formats differ only in their version and the blobs' checksum). */
async function versionTwoRepo(): Promise<Repository> {
  const made = await newRepo();
  const file = join(made.path, REPOSITORY_FILE);
  await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), formatVersion: 2 }));
  return reopen(made.path);
}

/** The open modes of every blob the codec pool opens while `fn` runs. */
async function modesOf(fn: () => Promise<unknown>): Promise<OpenMode[]> {
  const modes: OpenMode[] = [];
  const open = CodecPool.prototype.open;
  const openAll = CodecPool.prototype.openAll;
  vi.spyOn(CodecPool.prototype, 'open').mockImplementation(function (this: CodecPool, ...args) {
    modes.push(args[6]);
    return open.apply(this, args);
  });
  vi.spyOn(CodecPool.prototype, 'openAll').mockImplementation(function (this: CodecPool, items, keys, mode) {
    modes.push(mode);
    return openAll.call(this, items, keys, mode);
  });
  await fn();
  vi.restoreAllMocks();
  return modes;
}

const leaseAll = async (repo: Repository, ids: Array<string | null>): Promise<Buffer> => {
  const leases = await Promise.all(repo.leaseChunks(ids.filter((id): id is string => id !== null)));
  const data = Buffer.concat(leases.map((l) => Buffer.from(l.data)));
  for (const l of leases) l.release();
  return data;
};

describe('repository format versions', () => {
  it("a new repository is version 3: a raw chunk's blob is its bytes, then the CRC-32 of its id, compression flag and bytes", async () => {
    const repo = await newRepo();
    expect(repo.config.formatVersion).toBe(3);
    const data = randomBytes(CHUNK);
    const put = await repo.putChunk(data);
    await repo.flush();
    const pack = await onlyPack(repo);
    expect(pack.version).toBe(3);
    expect(pack.entries).toMatchObject([{ id: put.id, length: CHUNK + 4, rawLength: CHUNK, compressed: false }]);
    const blob = (await readFile(pack.file)).subarray(pack.entries[0].offset, pack.entries[0].offset + CHUNK + 4);
    expect(blob.subarray(0, CHUNK).equals(data)).toBe(true);
    const idAndFlag = Buffer.concat([Buffer.from(put.id!, 'hex'), Buffer.from([0])]);
    // spelled out here, not crcOf: this test pins the format; zlib's CRC-32 is checked against the standard value in codec-pool.test.ts
    const { crc32 } = await loadCodec();
    expect(blob.readUInt32LE(CHUNK)).toBe(crc32(data, crc32(idAndFlag, 0)));
  });

  it('a version 2 repository stays version 2 (packs and blobs as that hvsnap wrote them), and its restores hash every chunk', async () => {
    const repo = await versionTwoRepo();
    const data = diskData(6);
    const { index } = await backup(repo, vm, data);
    expect(JSON.parse(await readFile(join(repo.path, REPOSITORY_FILE), 'utf8')).formatVersion).toBe(2);
    const pack = await onlyPack(repo);
    expect(pack.version).toBe(2);
    for (const e of pack.entries) expect(e.length).toBe(CHUNK); // no checksum
    expect((await leaseAll(await reopen(repo.path), index.chunks)).equals(data)).toBe(true);
    // a flipped byte: found by the id's hash, the only check a version 2 blob has
    const bytes = await readFile(pack.file);
    bytes[pack.entries[2].offset + 100] ^= 1;
    await writeFile(pack.file, bytes);
    const again = await reopen(repo.path);
    const e = await failure(again.readChunk(pack.entries[2].id));
    expect(e.message).toMatch(/does not hash to its id/);
    expect(e.message).toContain(pack.file);
  });

  it("restore, export and mount trust a blob's checksum or tag; verify --deep, repair and gc's copies hash every chunk again", async () => {
    const repo = await newRepo();
    const data = diskData(4);
    const first = await backup(repo, vm, data);
    // a second backup shares half the first one's chunks: once the first is gone, its pack is half live, and gc copies that half
    const { index } = await backup(repo, vm, Buffer.concat([data.subarray(0, 2 * CHUNK), diskData(2)]));
    const ids = index.chunks.filter((id): id is string => id !== null);
    const restore = await modesOf(() => leaseAll(repo, ids));
    const mount = await modesOf(() => repo.readChunk(ids[0]));
    const deep = await modesOf(() => repo.verify({ deep: true }));
    const repair = await modesOf(() => repo.repair());
    expect(await repo.deleteRestorePoint(first.manifest.id)).toBe(true);
    const gc = await modesOf(() => repo.gc({ repackBelow: 1 })); // copies the shared half
    for (const [what, modes] of Object.entries({ restore, mount, deep, repair, gc })) expect(modes.length, what).toBeGreaterThan(0);
    for (const m of [...restore, ...mount]) expect(m).toEqual({ crc: true, ids: false });
    for (const m of [...deep, ...repair, ...gc]) expect(m).toEqual({ crc: true, ids: true });
  });

  it('a version 3 blob that fails its checksum on a restore is quarantined, and the next backup of that data stores a good copy', async () => {
    const repo = await newRepo();
    const data = diskData(4);
    const { index } = await backup(repo, vm, data);
    const pack = await onlyPack(repo);
    const victim = pack.entries.find((e) => e.id === index.chunks[1])!;
    const bytes = await readFile(pack.file);
    bytes[victim.offset + 7] ^= 0x01;
    await writeFile(pack.file, bytes);
    const again = await reopen(repo.path);
    const e = await failure(leaseAll(again, index.chunks));
    expect(e.message).toMatch(/checksum does not match/);
    expect(e.message).toContain(pack.file);
    expect(again.chunks.isBad(victim.id, pack.file.split('/').at(-1)!)).toBe(true);
    await backup(again, vm, data);
    expect((await leaseAll(again, index.chunks)).equals(data)).toBe(true);
  });

  it("verify --deep finds a blob whose checksum was made for other bytes (a writer's bug), which a restore's checksum check cannot", async () => {
    const repo = await newRepo();
    await backup(repo, vm, diskData(4));
    const pack = await onlyPack(repo);
    const victim = pack.entries[1];
    const bytes = await readFile(pack.file);
    const other = randomBytes(CHUNK);
    other.copy(bytes, victim.offset);
    bytes.writeUInt32LE((await loadCodec()).crcOf(victim.id, false, other), victim.offset + CHUNK);
    await writeFile(pack.file, bytes);
    const again = await reopen(repo.path);
    expect((await again.readChunk(victim.id)).equals(other)).toBe(true); // the checksum holds: the restore's check passes it
    const report = await again.verify({ deep: true });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'chunk_corrupt', message: expect.stringMatching(/does not hash to its id/) })]);
  });
});
