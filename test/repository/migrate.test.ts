import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrateRepository, openRepository } from '../../src/repository/index.js';
import { restoreDisk } from '../../src/restore/restore-disk.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { CHUNK, diskData, DISK_ID, failure, filesUnder, tempDir } from './helpers.js';
import { writeV1Repository } from './v1-fixture.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

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
    expect(r).toMatchObject({ migrated: true, formatVersion: 3, restorePoints: 2, corruptChunks: [] });
    expect(r.bytesOut).toBeLessThan(r.bytesIn); // the text chunk compressed
    expect(await readdir(path)).not.toContain('chunks');
    const repo = await openRepository({ path });
    expect(await repo.verify({ deep: true })).toMatchObject({ ok: true, restorePoints: 2 });
    for (const [i, p] of points.entries()) expect((await restoredBytes(repo, p.id, join(dir, `r${i}.vhdx`))).equals(p.data)).toBe(true);
    expect((await repo.readConfigFile(points[0].id, 'Virtual Machines/x.vmcx')).equals(input[0].config!)).toBe(true);
    await repo.close();
    expect(await migrateRepository({ path })).toMatchObject({ migrated: false, formatVersion: 3 }); // already done
  });

  it("finishes an older hvsnap's interrupted migration in its version (2), and refuses one to a version it does not know", async () => {
    const dir = await tempDir();
    const pending = (path: string, formatVersion: number) =>
      writeFile(
        join(path, 'migrate-pending.json'),
        JSON.stringify({
          format: 'hvsnap-repository',
          formatVersion,
          id: 'cd'.repeat(16),
          chunkSize: CHUNK,
          compression: 'zstd',
          encryption: 'none',
          createdAt: '2026-11-01T00:00:00Z',
        }),
      );
    const path = join(dir, 'v1');
    const points = await writeV1Repository(path, vms());
    await pending(path, 2);
    expect(await migrateRepository({ path })).toMatchObject({ migrated: true, formatVersion: 2, restorePoints: 2 });
    const repo = await openRepository({ path });
    expect(repo.config.formatVersion).toBe(2);
    for (const pack of await filesUnder(join(path, 'packs'))) expect((await readFile(pack)).readUInt32LE(8), pack).toBe(2);
    expect((await restoredBytes(repo, points[0].id, join(dir, 'r.vhdx'))).equals(points[0].data)).toBe(true);
    await repo.close();

    const newer = join(dir, 'newer');
    await writeV1Repository(newer, vms());
    await pending(newer, 4);
    const e = await failure(migrateRepository({ path: newer }));
    expect(e).toMatchObject({ code: 'repository_invalid', context: { field: 'formatVersion' } });
    expect(e.hint).toMatch(/the release that started it, or a newer one/);
    expect(await readdir(newer)).toContain('chunks'); // nothing converted
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
