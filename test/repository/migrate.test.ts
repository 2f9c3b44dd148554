import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeIndex, migrateRepository, openRepository, REPOSITORY_FILE } from '../../src/repository/index.js';
import { indexFileName } from '../../src/repository/restore-point-writer.js';
import { restoreDisk } from '../../src/restore/restore-disk.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { CHUNK, diskData, DISK_ID, failure, manifestFor, tempDir } from './helpers.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * A version 1 repository as hvsnap 0.1 wrote it (src/repository at main 9058cba): one file per
 * chunk under chunks/<ab>/<cd>/<sha256>, v1 manifests without checksums.
 */
async function writeV1Repository(path: string, vms: Array<{ id: string; name: string; data: Buffer; config?: Buffer }>): Promise<Array<{ id: string; data: Buffer }>> {
  await mkdir(path, { recursive: true });
  for (const sub of ['chunks', 'restore-points', 'tmp', 'locks']) await mkdir(join(path, sub));
  await writeFile(join(path, REPOSITORY_FILE), JSON.stringify({ format: 'hvsnap-repository', formatVersion: 1, chunkSize: CHUNK, hash: 'sha256', createdAt: new Date().toISOString() }));
  const out = [];
  for (const [n, vm] of vms.entries()) {
    const chunks: Array<string | null> = [];
    for (let off = 0; off < vm.data.length; off += CHUNK) {
      const c = vm.data.subarray(off, off + CHUNK);
      if (c.every((b) => b === 0)) {
        chunks.push(null);
        continue;
      }
      const id = sha(c);
      await mkdir(join(path, 'chunks', id.slice(0, 2), id.slice(2, 4)), { recursive: true });
      await writeFile(join(path, 'chunks', id.slice(0, 2), id.slice(2, 4), id), c);
      chunks.push(id);
    }
    const id = `2026112${n}T000000000Z-${vm.name}-0000000${n}`;
    const dir = join(path, 'restore-points', id);
    await mkdir(join(dir, 'disks'), { recursive: true });
    const idx = encodeIndex({ chunkSize: CHUNK, virtualSize: vm.data.length, chunks });
    await writeFile(join(dir, 'disks', indexFileName(DISK_ID)), idx);
    const configFiles = vm.config ? ['Virtual Machines/x.vmcx'] : [];
    if (vm.config) {
      await mkdir(join(dir, 'config', 'Virtual Machines'), { recursive: true });
      await writeFile(join(dir, 'config', 'Virtual Machines', 'x.vmcx'), vm.config);
    }
    const manifest = { ...manifestFor(vm, [{ diskId: DISK_ID, virtualSize: vm.data.length, indexSha256: sha(idx) }], { configFiles }), id, formatVersion: 1 };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
    out.push({ id, data: vm.data });
  }
  return out;
}

async function restoredBytes(repo: Awaited<ReturnType<typeof openRepository>>, id: string, target: string): Promise<Buffer> {
  await restoreDisk({ repository: repo, restorePointId: id, diskId: DISK_ID, target });
  const img = await openVhdx(target);
  try {
    return await img.read(0, img.virtualSize);
  } finally {
    await img.close();
  }
}

describe('migrate', () => {
  const vms = () => [
    { id: 'E1000000-0000-0000-0000-000000000001', name: 'sql-01', data: diskData(5, (i) => i === 2, 1024), config: randomBytes(500) },
    { id: 'E1000000-0000-0000-0000-000000000002', name: 'web-01', data: Buffer.concat([Buffer.alloc(CHUNK, 'compressible text. '), diskData(2)]) },
  ];

  it('refuses a version 1 repository with the command that migrates it', async () => {
    const path = join(await tempDir(), 'v1');
    await writeV1Repository(path, vms());
    const e = await failure(openRepository({ path }));
    expect(e).toMatchObject({ code: 'repository_invalid', context: { field: 'formatVersion' } });
    expect(e.hint).toBe(`convert it with: hvsnap migrate --repo ${path}`);
  });

  it('converts a version 1 repository whose restore points then restore byte-identical', async () => {
    const dir = await tempDir();
    const path = join(dir, 'v1');
    const input = vms();
    const points = await writeV1Repository(path, input);
    const r = await migrateRepository({ path });
    expect(r).toMatchObject({ migrated: true, restorePoints: 2, corruptChunks: [] });
    expect(r.bytesOut).toBeLessThan(r.bytesIn); // the text chunk compressed
    expect(await readdir(path)).not.toContain('chunks');
    const repo = await openRepository({ path });
    expect(await repo.verify({ deep: true })).toMatchObject({ ok: true, restorePoints: 2 });
    for (const [i, p] of points.entries()) expect((await restoredBytes(repo, p.id, join(dir, `r${i}.vhdx`))).equals(p.data)).toBe(true);
    expect((await repo.readConfigFile(points[0].id, 'Virtual Machines/x.vmcx')).equals(input[0].config!)).toBe(true);
    await repo.close();
    expect(await migrateRepository({ path })).toMatchObject({ migrated: false }); // already done
  });

  it('converts into an encrypted repository: re-keyed ids, encrypted configuration, the same disks', async () => {
    const dir = await tempDir();
    const path = join(dir, 'v1');
    const input = vms();
    const points = await writeV1Repository(path, input);
    await migrateRepository({ path, encrypt: true, passphrase: 'correct horse', kdf: { N: 1024, r: 8, p: 1 } });
    const repo = await openRepository({ path, passphrase: 'correct horse' });
    expect(repo.encrypted).toBe(true);
    const index = await repo.readIndex(points[0].id, DISK_ID);
    expect(index.chunks[0]).not.toBe(sha(input[0].data.subarray(0, CHUNK))); // keyed: the plain hash is gone
    expect((await restoredBytes(repo, points[0].id, join(dir, 'e0.vhdx'))).equals(points[0].data)).toBe(true);
    expect((await repo.readConfigFile(points[0].id, 'Virtual Machines/x.vmcx')).equals(input[0].config!)).toBe(true);
    const raw = await readFile(join(path, 'restore-points', points[0].id, 'config', 'Virtual Machines', 'x.vmcx'));
    expect(raw.includes(input[0].config!.subarray(0, 16))).toBe(false);
    expect((await failure(openRepository({ path, passphrase: 'wrong' }))).code).toBe('access_denied');
  });
});
