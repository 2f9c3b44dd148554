import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { cleanupLeftovers } from '../../src/backup/cleanup.js';
import { openRepository } from '../../src/repository/index.js';
import { killJournalOwners } from '../helpers/dead-job.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe('hvsnap cleanup after a job that died', () => {
  it('replays the journal: presentation, snapshot and the new reference points go; the next backup works', async () => {
    env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20, lockTimeoutMs: 1000 });
    // the job "dies" in the middle of the copy: it never returns, nothing of it is compensated
    let reached!: () => void;
    const atCopy = new Promise<void>((r) => (reached = r));
    void runBackup(env, {
      hooks: {
        onChunk: () => {
          reached();
          return new Promise<void>(() => {}); // hangs forever: the process is as good as dead
        },
      },
    });
    await atCopy;
    const journals = await readdir(join(env.repository.path, '.journal'));
    expect(journals).toHaveLength(1);
    expect(await env.provider.listSnapshots({})).toHaveLength(1);

    // while its process lives, cleanup leaves the job alone
    const early = await cleanupLeftovers(env);
    expect(early.replayed).toEqual([]);
    expect(early.skipped[0]).toMatch(/still running/);
    expect(await env.provider.listSnapshots({})).toHaveLength(1);

    expect(await killJournalOwners(join(env.repository.path, '.journal'))).toBe(1);
    // another job writes to the repository meanwhile: its lock is live and gc waits for a later run
    const other = await openRepository({ path: env.repository.path });
    const otherWriter = await other.beginRestorePoint({ jobId: 'other-job', vmId: 'other-vm', vmName: 'other' });
    const report = await cleanupLeftovers(env);
    expect(report.failures).toEqual([]);
    expect(report.gc).toMatch(/^skipped: .*in use/);
    expect(report.replayed.some((r) => /unpresent/.test(r))).toBe(true);
    expect(report.replayed.some((r) => /delete array snapshot/.test(r))).toBe(true);
    expect(await env.provider.listSnapshots({})).toEqual([]);
    expect(await readdir(join(env.labDir, 'array', 'presentations'))).toEqual([]);
    expect(await readdir(join(env.repository.path, '.journal'))).toEqual([]);
    // its half-written restore point went with its journal, though gc could not run; the other job's stays
    expect(await readdir(join(env.repository.path, 'tmp'))).toEqual([otherWriter.id]);
    await otherWriter.abort();
    await other.close();
    // the reference points the dead job made were undone too: the next backup is a clean full
    const next = await runBackup(env);
    expect(next.ok, JSON.stringify(next.vms.map((v) => [v.vm, v.status, v.step, v.error]))).toBe(true);
    expect(next.vms.every((v) => v.disks.every((d) => d.mode === 'full'))).toBe(true);
    expect((await env.repository.listRestorePoints()).length).toBe(2);
  });
});
