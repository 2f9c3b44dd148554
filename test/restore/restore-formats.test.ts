import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreDisk } from '../../src/restore/restore-disk.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { backup, diskData, DISK_ID, failure, newRepo, tempDir } from '../repository/helpers.js';

const vm = { id: 'A3000000-0000-0000-0000-000000000001', name: 'fmt-01' };

async function vhdxBytes(file: string): Promise<Buffer> {
  const img = await openVhdx(file);
  try {
    return await img.read(0, img.virtualSize);
  } finally {
    await img.close();
  }
}

describe('restoreDisk formats', () => {
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
