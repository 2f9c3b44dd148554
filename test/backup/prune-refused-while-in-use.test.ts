import { describe, expect, it, onTestFinished } from 'vitest';
import { pruneRestorePoints } from '../../src/backup/prune.js';
import { silentLogger } from '../../src/core/logger.js';
import { backup, diskData, failure, newRepo } from '../repository/helpers.js';

/**
 * `hvsnap prune` applied retention (deleting restore points) and only then found that gc could not
 * run — a restore point mounted, a restore reading, a backup writing — and exited with an error
 * after half its work. Retention and gc now share one exclusive lock taken first: refused before
 * anything is deleted, naming the holder; once it is gone, both run.
 */
describe('prune while the repository is in use', () => {
  it.each([
    ['a mounted restore point', 'reader'],
    ['a backup writing', 'writer'],
  ] as const)('refuses at once with %s, deleting nothing; runs once it is gone', async (_what, holder) => {
    const repo = await newRepo();
    onTestFinished(() => repo.close());
    const vm = { id: 'a1b2c3d4-0000-4000-8000-000000000001', name: 'vm-01' };
    for (const [i, day] of ['2026-11-20', '2026-11-21', '2026-11-22'].entries()) await backup(repo, vm, diskData(3 + i), { createdAt: `${day}T01:00:00.000Z` });
    const release =
      holder === 'reader'
        ? (await repo.lockForReading('mount of restore point rp-1 on /mnt/rp-1')).release
        : await repo.beginRestorePoint({ jobId: 'job-2', vmId: vm.id, vmName: vm.name }).then((w) => () => w.abort());

    const refused = await failure(pruneRestorePoints({ repository: repo, logger: silentLogger }, { keepLast: 1 }));
    expect(refused.code).toBe('repository_locked');
    expect(refused.message).toContain(holder === 'reader' ? 'mount of restore point rp-1 on /mnt/rp-1' : `pid ${process.pid}`);
    expect((await repo.listRestorePoints()).length).toBe(3);

    await release();
    const done = await pruneRestorePoints({ repository: repo, logger: silentLogger }, { keepLast: 1 });
    expect(done.retention.deleted.length).toBe(2);
    expect((await repo.listRestorePoints()).length).toBe(1);
    expect(done.gc?.chunksDeleted).toBeGreaterThan(0);
  });
});
