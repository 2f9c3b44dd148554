import { it, expect, onTestFinished } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { cleanupLeftovers } from '../../src/backup/cleanup.js';
import { makeLabEnv } from '../helpers/lab-env.js';

it('snapshot-only: a crash after the first commit, then hvsnap cleanup', async () => {
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20, lockTimeoutMs: 1000 });
  onTestFinished(() => env.cleanup());
  let commits = 0;
  let reached!: () => void;
  const atSecond = new Promise<void>((r) => (reached = r));
  void runBackup(env, {
    policy: { mode: 'snapshot-only', copyConcurrency: 1 },
    hooks: {
      beforeStep: (step) => {
        if (step === 'commit' && ++commits === 2) {
          reached();
          return new Promise<void>(() => {});
        }
      },
    },
  });
  await atSecond;
  const rps = await env.repository.listRestorePoints();
  await cleanupLeftovers(env);
  const snaps = (await env.provider.listSnapshots({})).map((s) => s.name);
  expect(snaps).toContain(rps[0].arraySnapshots[0].name);
});
