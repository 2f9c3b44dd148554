import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { changePassphrase, openRepository, type Repository } from '../../src/repository/index.js';
import { readPackEntries } from '../../src/repository/pack-reader.js';
import { restoreDisk } from '../../src/restore/restore-disk.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { backup, CHUNK, diskData, failure, readDisk, tempDir } from './helpers.js';

/** scrypt kept cheap in tests; the default is 2^15 */
const kdf = { N: 1024, r: 8, p: 1 };
const vm = { id: 'F1000000-0000-0000-0000-000000000001', name: 'secret-01' };
const opened: Repository[] = [];
let env: LabEnv | undefined;
afterEach(async () => {
  for (const r of opened.splice(0)) await r.close().catch(() => undefined);
  await env?.cleanup();
  env = undefined;
});

async function encryptedRepo(passphrase = 'pass phrase one'): Promise<Repository> {
  const repo = await openRepository({ path: join(await tempDir(), 'enc'), create: true, chunkSize: CHUNK, encrypt: true, passphrase, kdf });
  opened.push(repo);
  return repo;
}

async function open(path: string, passphrase?: string): Promise<Repository> {
  const repo = await openRepository({ path, passphrase });
  opened.push(repo);
  return repo;
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('an encrypted repository', () => {
  it('writes no 16-byte window of a lab disk, and no unkeyed hash of its chunks, into any file', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 2 << 20 });
    await env.repository.close();
    env.repository = await openRepository({ path: join(env.dir, 'enc'), create: true, encrypt: true, passphrase: 'lab secret', kdf });
    const report = await runBackup(env);
    const rp = report.vms[0].restorePointId!;
    const diskId = (await env.repository.getRestorePoint(rp)).disks[0].diskId;
    const target = join(env.dir, 'restored.vhdx');
    await restoreDisk({ repository: env.repository, restorePointId: rp, diskId, target });
    const img = await openVhdx(target);
    const disk = await img.read(0, img.virtualSize);
    await img.close();

    // every 16-byte window of the disk's data, keyed by its first 4 bytes. Not one in which a single
    // byte value fills half or more: 15 zero bytes and one more is no data of the disk, yet the edge
    // of every written extent has one, and so has an index whose unused chunk (zeros) is followed by
    // an id starting with that byte: the flaky "holds disk data at byte 273" of a .idx file.
    const windows = new Map<number, number[]>();
    const counts = new Uint8Array(256);
    let heavy = 0; // byte values that fill 8 or more of the window
    const slide = (v: number, by: 1 | -1) => {
      if (by < 0 && counts[v] === 8) heavy--;
      counts[v] += by;
      if (by > 0 && counts[v] === 8) heavy++;
    };
    let data = 0;
    for (let i = 0; i + 16 <= disk.length; i++) {
      if (i === 0) for (let j = 0; j < 16; j++) slide(disk[j], 1);
      else {
        slide(disk[i - 1], -1);
        slide(disk[i + 15], 1);
      }
      if (heavy > 0) continue;
      data++;
      const k = disk.readUInt32LE(i);
      const list = windows.get(k);
      if (list) list.push(i);
      else windows.set(k, [i]);
    }
    expect(data).toBeGreaterThan(0.99 * (2 << 20)); // the lab wrote 2 MiB of data
    const hashes: Buffer[] = [];
    for (let off = 0; off < disk.length; off += 1 << 20) {
      const c = disk.subarray(off, off + (1 << 20));
      if (!c.every((b) => b === 0)) hashes.push(createHash('sha256').update(c).digest());
    }
    const files = await filesUnder(join(env.dir, 'enc'));
    expect(files.some((f) => f.includes('/packs/'))).toBe(true);
    for (const file of files) {
      const buf = await readFile(file);
      for (let i = 0; i + 16 <= buf.length; i++) {
        const hits = windows.get(buf.readUInt32LE(i));
        if (hits?.some((at) => disk.compare(buf, i, i + 16, at, at + 16) === 0)) expect.fail(`${file} holds disk data at byte ${i}`);
      }
      for (const h of hashes) {
        expect(buf.includes(h), `${file} holds a plain SHA-256 of a chunk`).toBe(false);
        expect(buf.includes(Buffer.from(h.toString('hex'))), `${file} holds a plain SHA-256 of a chunk`).toBe(false);
      }
    }
  }, 60_000);

  it('opens only with its passphrase: wrong or missing ones are clear errors that never show it', async () => {
    const repo = await encryptedRepo('right one');
    const data = diskData(3);
    const { index } = await backup(repo, vm, data);
    await repo.close();
    const wrong = await failure(open(repo.path, 'wrong one'));
    expect(wrong).toMatchObject({ code: 'access_denied' });
    expect(wrong.message).toContain(repo.path);
    expect(JSON.stringify({ m: wrong.message, c: wrong.context, h: wrong.hint })).not.toContain('wrong one');
    const saved = { p: process.env.HVSNAP_PASSPHRASE, f: process.env.HVSNAP_PASSPHRASE_FILE };
    try {
      delete process.env.HVSNAP_PASSPHRASE;
      delete process.env.HVSNAP_PASSPHRASE_FILE;
      const none = await failure(open(repo.path));
      expect(none).toMatchObject({ code: 'input_invalid', context: { field: 'HVSNAP_PASSPHRASE' } });
      process.env.HVSNAP_PASSPHRASE = 'right one';
      expect((await readDisk(await open(repo.path), index)).equals(data)).toBe(true);
      delete process.env.HVSNAP_PASSPHRASE;
      const file = join(await tempDir(), 'pass');
      await writeFile(file, 'right one\n');
      process.env.HVSNAP_PASSPHRASE_FILE = file;
      expect((await readDisk(await open(repo.path), index)).equals(data)).toBe(true);
    } finally {
      for (const [k, v] of [
        ['HVSNAP_PASSPHRASE', saved.p],
        ['HVSNAP_PASSPHRASE_FILE', saved.f],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('adds and changes a passphrase without touching the data', async () => {
    const repo = await encryptedRepo('first');
    const data = diskData(2);
    const { index } = await backup(repo, vm, data);
    await repo.close();
    await changePassphrase({ path: repo.path, passphrase: 'first', newPassphrase: 'second', keep: true, kdf });
    expect((await readDisk(await open(repo.path, 'first'), index)).equals(data)).toBe(true);
    expect((await readDisk(await open(repo.path, 'second'), index)).equals(data)).toBe(true);
    await changePassphrase({ path: repo.path, passphrase: 'first', newPassphrase: 'third', kdf });
    expect((await failure(open(repo.path, 'first'))).code).toBe('access_denied');
    expect((await readDisk(await open(repo.path, 'third'), index)).equals(data)).toBe(true);
    expect((await failure(changePassphrase({ path: repo.path, passphrase: 'nope', newPassphrase: 'x', kdf }))).code).toBe('access_denied');
  });

  it('detects a byte flipped anywhere in a pack', async () => {
    const repo = await encryptedRepo();
    const data = Buffer.concat([diskData(2), Buffer.alloc(CHUNK, 'compressible ')]);
    await backup(repo, vm, data);
    await repo.close();
    const [pack] = (await filesUnder(repo.path)).filter((f) => f.includes('/packs/'));
    const good = await readFile(pack);
    const { entries } = await readPackEntries(pack, repo.chunks.format);
    expect(entries.some((e) => e.compressed)).toBe(true);
    // every byte of header, trailer and each blob's nonce and tag, and every 509th byte elsewhere
    const positions = new Set<number>();
    for (let i = 0; i < 16; i++) positions.add(i);
    for (let i = entries.at(-1)!.offset + entries.at(-1)!.length; i < good.length; i++) positions.add(i);
    for (const e of entries)
      for (let i = 0; i < 12; i++)
        positions
          .add(e.offset + i)
          .add(e.offset + e.length - 1 - i)
          .add(e.offset + e.length - 13 - i);
    for (let i = 0; i < good.length; i += 509) positions.add(i);
    const undetected: number[] = [];
    for (const at of positions) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x01;
      await writeFile(pack, bad);
      const r = await open(repo.path, 'pass phrase one');
      const report = await r.verify({ deep: true });
      await r.close();
      await writeFile(pack, good);
      await rm(join(repo.path, 'bad'), { recursive: true, force: true });
      if (report.ok) undetected.push(at);
    }
    expect(positions.size).toBeGreaterThan(400);
    expect(undetected).toEqual([]);
  }, 120_000);
});
