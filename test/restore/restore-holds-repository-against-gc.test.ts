import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { exportVm } from '../../src/restore/export-vm.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/**
 * A restore (and an export, which restores) reads chunks for as long as the disks take: it holds a
 * shared (reader) lock of the repository meanwhile, so a gc started then — by `hvsnap prune` in
 * another process — refuses, naming the restore, instead of removing packs the restore still reads.
 * The lock goes when the restore ends.
 */
it.each(['restore', 'export'] as const)('%s: gc refuses while it reads the chunks, and runs once it is done', async (kind) => {
  env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
  const backup = await runBackup(env);
  expect(backup.ok).toBe(true);
  const restorePointId = backup.vms[0].restorePointId!;
  // gc is tried once, when the restore first asks for chunks (its lock taken before), and no chunk
  // reaches the restore before gc has answered: however fast the reads, the restore is still reading
  // then (started from a progress callback instead, gc lost the race once an export of the lab disk
  // ended first under a loaded CI machine)
  let gcDuring: Promise<unknown> | undefined;
  const tryGc = () =>
    (gcDuring ??= env!.repository.gc().then(
      () => 'gc ran',
      (e: unknown) => e,
    ));
  const repo = env.repository;
  const [readChunk, leaseChunks] = [repo.readChunk.bind(repo), repo.leaseChunks.bind(repo)];
  repo.readChunk = async (id) => {
    await tryGc();
    return readChunk(id);
  };
  repo.leaseChunks = (ids) => {
    const answered = tryGc();
    return leaseChunks(ids).map(async (lease) => (await Promise.all([lease, answered]))[0]);
  };
  const to = join(env.dir, kind);
  if (kind === 'restore') await restoreVm({ repository: env.repository, restorePointId, targetDir: to });
  else await exportVm({ repository: env.repository, restorePointId, to });
  expect(gcDuring).toBeDefined();
  expect(await gcDuring).toMatchObject({ code: 'repository_locked', message: expect.stringContaining(`restore of restore point ${restorePointId}`) });
  expect(await readdir(join(env.repository.path, 'locks'))).toEqual([]);
  expect((await env.repository.gc()).tempRemoved).toBeGreaterThanOrEqual(0);
});
