import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { chunksTouched } from '../../src/core/ranges.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labPinFrozen, labWrite } from '../../src/lab/index.js';
import { DEFAULT_CHUNK_SIZE, openRepository } from '../../src/repository/index.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { makeLabEnv } from '../helpers/lab-env.js';
import { restorePointDiskDigest } from '../helpers/restore-point-digest.js';
import { imageSha256 } from '../vhdx/helpers.js';

const DISK = 32 << 20;

/** A full backup, scattered 64 KiB writes, an incremental: what the incremental read, and whether its restore point holds the frozen disk. */
async function fullThenIncremental(chunkSize: number | undefined) {
  const env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: DISK, dataBytes: 8 << 20, chunkSize });
  onTestFinished(() => env.cleanup());
  const frozen = new Map<string, Record<string, string>>();
  const pin = async (cps: Checkpoint[]) => {
    for (const cp of cps) frozen.set(cp.name, await labPinFrozen(env.labDir, cp, join(env.dir, 'frozen', cp.name)));
  };
  const full = await runBackup(env, { hooks: { onCheckpoints: pin } });
  expect(full.ok).toBe(true);
  // reopened as a job opens it (create: true, no chunk size given): the recorded size wins over the default
  await env.repository.close();
  env.repository = await openRepository({ path: join(env.dir, 'repo'), create: true });
  const written = await labWrite({ dir: env.labDir, vm: 'vm-01', count: 40, sizeBytes: 64 << 10, seed: 5 });
  const incr = await runBackup(env, { hooks: { onCheckpoints: pin } });
  expect(incr.ok).toBe(true);
  const vm = incr.vms[0];
  const disk = vm.disks[0];
  expect(disk.mode).toBe('incremental');
  const index = await env.repository.readIndex(vm.restorePointId!, disk.diskId);
  const img = await openVhdx(frozen.get(`hvsnap:${incr.jobId}`)![disk.diskId]);
  try {
    expect(await restorePointDiskDigest(env.repository, vm.restorePointId!, disk.diskId)).toBe(await imageSha256(img));
  } finally {
    await img.close();
  }
  return { repoChunkSize: env.repository.chunkSize, indexChunkSize: index.chunkSize, bytesRead: vm.bytesRead, writes: written.writes };
}

it('a repository created with 1 MiB chunks keeps them: it reopens and backs up incrementally in 1 MiB chunks', async () => {
  const r = await fullThenIncremental(1 << 20);
  expect(r.repoChunkSize).toBe(1 << 20);
  expect(r.indexChunkSize).toBe(1 << 20);
  // every touched 1 MiB chunk is read whole, and nothing more
  expect(r.bytesRead).toBe(chunksTouched(r.writes, 1 << 20, DISK).length << 20);
});

it('a new repository takes 256 KiB chunks, and its incremental reads only the 256 KiB chunks the writes touched', async () => {
  const r = await fullThenIncremental(undefined);
  expect(DEFAULT_CHUNK_SIZE).toBe(256 << 10);
  expect(r.repoChunkSize).toBe(256 << 10);
  expect(r.indexChunkSize).toBe(256 << 10);
  expect(r.bytesRead).toBe(chunksTouched(r.writes, 256 << 10, DISK).length * (256 << 10));
});
