import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeIndex, REPOSITORY_FILE } from '../../src/repository/index.js';
import { indexFileName } from '../../src/repository/restore-point-writer.js';
import { CHUNK, DISK_ID, manifestFor } from './helpers.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * A version 1 repository as hvsnap 0.1 wrote it (src/repository at main 9058cba): one file per
 * chunk under chunks/<ab>/<cd>/<sha256>, v1 manifests without checksums.
 */
export async function writeV1Repository(
  path: string,
  vms: Array<{ id: string; name: string; data: Buffer; config?: Buffer }>,
): Promise<Array<{ id: string; data: Buffer }>> {
  await mkdir(path, { recursive: true });
  for (const sub of ['chunks', 'restore-points', 'tmp', 'locks']) await mkdir(join(path, sub));
  await writeFile(
    join(path, REPOSITORY_FILE),
    JSON.stringify({ format: 'hvsnap-repository', formatVersion: 1, chunkSize: CHUNK, hash: 'sha256', createdAt: new Date().toISOString() }),
  );
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
