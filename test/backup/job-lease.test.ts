import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireJobLease } from '../../src/backup/job-lease.js';

let repo: string;
beforeEach(async () => {
  repo = await mkdtemp(join(tmpdir(), 'hvsnap-lease-'));
});
afterEach(async () => {
  await rm(repo, { recursive: true, force: true });
});

const vm = (n: number) => ({ id: `id-${n}`, name: `vm-0${n}` });

/** Rewrites the one lease in the folder as if another host held it, renewed `agoMs` ago. */
async function asOtherHost(agoMs: number): Promise<void> {
  const dir = join(repo, '.leases');
  const [file] = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  const lease = JSON.parse(await readFile(join(dir, file), 'utf8'));
  await writeFile(
    join(dir, file),
    JSON.stringify({ ...lease, host: 'proxy-elsewhere', pid: 1, token: 'theirs', renewedAt: new Date(Date.now() - agoMs).toISOString() }),
  );
}

describe('job lease', () => {
  it('refuses an overlapping selection while the holder lives, names it, and passes once it is released', async () => {
    const first = await acquireJobLease({ repositoryPath: repo, key: 'batch:a', kind: 'batch', jobId: 'job-1', vms: [vm(1), vm(2)] });
    await expect(acquireJobLease({ repositoryPath: repo, key: 'backup:b', kind: 'backup', jobId: 'job-2', vms: [vm(2), vm(3)] })).rejects.toMatchObject({
      code: 'locked',
      message: expect.stringMatching(/^batch job-1 is already running on these VMs \(pid \d+ on .+, started .+\): vm-02$/),
    });
    // disjoint VMs under another key run side by side
    const other = await acquireJobLease({ repositoryPath: repo, key: 'backup:c', kind: 'backup', jobId: 'job-3', vms: [vm(3)] });
    await first.release();
    await other.release();
    const again = await acquireJobLease({ repositoryPath: repo, key: 'backup:b', kind: 'backup', jobId: 'job-2', vms: [vm(2), vm(3)] });
    await again.release();
  });

  it("another host's lease holds while it is renewed and is taken over once it is stale", async () => {
    const held = await acquireJobLease({ repositoryPath: repo, key: 'batch:a', kind: 'batch', jobId: 'job-1', vms: [vm(1)] });
    await held.release();
    await acquireJobLease({ repositoryPath: repo, key: 'batch:a', kind: 'batch', jobId: 'job-1', vms: [vm(1)] });
    await asOtherHost(5_000);
    await expect(acquireJobLease({ repositoryPath: repo, key: 'batch:a', kind: 'batch', jobId: 'job-2', vms: [vm(1)], staleAfterMs: 60_000 })).rejects.toThrow(
      /pid 1 on proxy-elsewhere/,
    );
    await asOtherHost(120_000);
    const taken = await acquireJobLease({ repositoryPath: repo, key: 'batch:a', kind: 'batch', jobId: 'job-2', vms: [vm(1)], staleAfterMs: 60_000 });
    expect(taken.owner.jobId).toBe('job-2');
    await taken.release();
  });
});
