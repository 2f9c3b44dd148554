import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openRepository, type Repository } from '../../src/repository/index.js';
import type { DiskIndex, RestorePointManifest } from '../../src/repository/types.js';
import { writeVhdxStream } from '../../src/vhdx/index.js';

/** 64 KiB chunks keep the tests small. */
export const CHUNK = 64 * 1024;

const dirs: string[] = [];
const repos: Repository[] = [];

afterEach(async () => {
  for (const r of repos.splice(0)) await r.close().catch(() => undefined);
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Every file under `dir`, at any depth. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

/** A temp folder removed after the test. */
export async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'hvsnap-repo-test-'));
  dirs.push(d);
  return d;
}

/** A new repository with 64 KiB chunks in a temp folder. */
export async function newRepo(): Promise<Repository> {
  const repo = await openRepository({ path: join(await tempDir(), 'repo'), create: true, chunkSize: CHUNK });
  repos.push(repo);
  return repo;
}

/** Opens another Repository object on the same folder (as a second process would), closed after the test. */
export async function reopen(path: string, lockTimeoutMs?: number): Promise<Repository> {
  const repo = await openRepository({ path, lockTimeoutMs });
  repos.push(repo);
  return repo;
}

/** A disk image of `chunks` chunks: chunk i is random, or zeros when `zero(i)`; the last may be short. */
export function diskData(chunks: number, zero: (i: number) => boolean = () => false, tail = CHUNK): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks; i++) {
    const len = i === chunks - 1 ? tail : CHUNK;
    parts.push(zero(i) ? Buffer.alloc(len) : randomBytes(len));
  }
  return Buffer.concat(parts);
}

/** `data` as a dynamic VHDX (1 MiB blocks) in a temp folder, written chunk by chunk: a snapshot for the data mover to read. */
export async function vhdxOf(data: Buffer): Promise<string> {
  const file = join(await tempDir(), 'disk.vhdx');
  async function* source() {
    for (let off = 0; off < data.length; off += CHUNK) yield { offset: off, data: data.subarray(off, off + CHUNK) };
  }
  await writeVhdxStream(file, { virtualSize: data.length, blockSize: 1 << 20, source: source() });
  return file;
}

/** Stores a disk image chunk by chunk, as the data mover does. */
export async function putDisk(repo: Repository, data: Buffer): Promise<{ index: DiskIndex; written: number }> {
  const chunks: Array<string | null> = [];
  let written = 0;
  for (let off = 0; off < data.length; off += repo.chunkSize) {
    const r = await repo.putChunk(data.subarray(off, off + repo.chunkSize));
    chunks.push(r.id);
    if (r.written) written++;
  }
  return { index: { chunkSize: repo.chunkSize, virtualSize: data.length, chunks }, written };
}

/** Rebuilds the disk image of an index from the repository. */
export async function readDisk(repo: Repository, index: DiskIndex): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < index.chunks.length; i++) {
    const len = Math.min(index.chunkSize, index.virtualSize - i * index.chunkSize);
    const id = index.chunks[i];
    parts.push(id === null ? Buffer.alloc(len) : await repo.getChunk(id, { verify: true }));
  }
  return Buffer.concat(parts);
}

export interface VmFixture {
  id: string;
  name: string;
}

/** A manifest body for a VM with the given disks, as backup would pass to commit. */
export function manifestFor(
  vm: VmFixture,
  disks: Array<{ diskId: string; virtualSize: number; indexSha256: string }>,
  extra: Partial<Omit<RestorePointManifest, 'id' | 'formatVersion'>> = {},
): Omit<RestorePointManifest, 'id' | 'formatVersion'> {
  return {
    jobId: 'job-1',
    vm: { id: vm.id, name: vm.name, host: 'hv01', configVersion: '9.0', generation: 2 },
    createdAt: new Date().toISOString(),
    mode: 'offload',
    consistency: 'application',
    arraySnapshots: [{ provider: 'lab', name: 'hvsnap-job-1-set0', retained: false }],
    disks: disks.map((d) => ({
      diskId: d.diskId,
      virtualDiskId: '6b1e8c63-0c55-4a3b-9c59-2f1d1b6f2a10',
      sourcePath: `C:\\ClusterStorage\\Volume1\\${vm.name}\\disk.vhdx`,
      virtualSize: d.virtualSize,
      mode: 'full',
      bytesRead: d.virtualSize,
      bytesWritten: d.virtualSize,
      chunksNew: 0,
      chunksReused: 0,
      indexSha256: d.indexSha256,
    })),
    configFiles: [],
    timings: { checkpointMs: 1200 },
    ...extra,
  };
}

export const DISK_ID = 'Microsoft:6B1E8C63-0C55-4A3B-9C59-2F1D1B6F2A10\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\0\\D';

/** Backs up one disk image as one committed restore point; returns its manifest and index. */
export async function backup(
  repo: Repository,
  vm: VmFixture,
  data: Buffer,
  extra: Partial<Omit<RestorePointManifest, 'id' | 'formatVersion'>> = {},
): Promise<{ manifest: RestorePointManifest; index: DiskIndex }> {
  const w = await repo.beginRestorePoint({ jobId: extra.jobId ?? 'job-1', vmId: vm.id, vmName: vm.name });
  const { index } = await putDisk(repo, data);
  const idx = await w.writeIndex(DISK_ID, index);
  const manifest = await w.commit(manifestFor(vm, [{ diskId: DISK_ID, virtualSize: data.length, indexSha256: idx.sha256 }], extra));
  return { manifest, index };
}

/** The HvsnapError `p` rejects with (see test/helpers/failure.ts). */
export { hvsnapFailure as failure } from '../helpers/failure.js';
