import { spawn } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { labWrite } from '../../src/lab/index.js';
import { mountRestorePoint } from '../../src/restore/mount/mount-restore-point.js';
import { mountsUnder } from '../../src/restore/mount/mount-table.js';
import { repositorySource } from '../../src/restore/restore-point-source.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { stdoutDigest } from '../helpers/async-digest.js';
import { buildCli } from '../helpers/build-cli.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { describeWith } from '../helpers/requirements.js';
import { cli } from '../cli/run-cli.js';

/**
 * A mounted restore point keeps what it serves: `hvsnap mount` holds a shared (reader) lock on the
 * repository until it is unmounted, so garbage collection (exclusive) refuses — naming the mount,
 * its pid and folder — instead of deleting packs the mount still reads. Backups (writers, shared
 * too) go on meanwhile. After umount gc proceeds; a mount killed with SIGKILL leaves a lock that
 * gc finds stale.
 */
async function packFiles(repo: string): Promise<string[]> {
  return (await readdir(join(repo, 'packs'), { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describeWith('hvsnap mount holds the repository against gc', { tools: ['qemu-img', 'fusermount3', 'umount'], root: true, fuse: true }, () => {
  let env: LabEnv;
  let build: Awaited<ReturnType<typeof buildCli>> | undefined;
  beforeAll(async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
  });
  afterAll(async () => {
    await build?.remove();
    await env?.cleanup();
  });

  /** A fresh restore point of vm-01 and the digest of its disk as restored. */
  async function restorePoint(tag: string): Promise<{ rp: string; digest: string }> {
    const b = await runBackup(env, { policy: { forceFull: true } });
    expect(b.ok).toBe(true);
    const rp = b.vms[0].restorePointId!;
    const restored = await restoreVm({ repository: env.repository, restorePointId: rp, targetDir: join(env.dir, `restored-${tag}`) });
    return { rp, digest: await qemuRawDigest(restored.disks[0].target) };
  }

  it('gc refuses while mounted, naming the mount; the packs stay and the mount reads on; after umount gc removes them', async () => {
    const { rp, digest } = await restorePoint('a');
    const dir = join(env.dir, 'mnt-a');
    await mkdir(dir);
    const m = await mountRestorePoint({ source: repositorySource(env.repository), restorePointId: rp, dir, pollMs: 100 });
    const raw = join(dir, 'vm-01', 'vm-01-disk0.raw');
    let unmounted = false;
    try {
      // a backup is a writer: it runs beside the mount (of a disk that moved on: the mounted point's chunks are its alone)
      await labWrite({ dir: env.labDir, vm: 'vm-01', count: 32, seed: 7 });
      const meanwhile = await runBackup(env, { policy: { forceFull: true } });
      expect(meanwhile.ok).toBe(true);
      // the mounted restore point is deleted: its chunks are garbage now, but the mount still reads them
      expect(await env.repository.deleteRestorePoint(rp)).toBe(true);
      const packs = await packFiles(env.repository.path);
      const gc = env.repository.gc({ repackBelow: 1 });
      await expect(gc).rejects.toMatchObject({ code: 'repository_locked', context: { pid: process.pid } });
      await expect(gc).rejects.toThrow(`mount of restore point ${rp} on ${dir} (pid ${process.pid}`);
      expect(await packFiles(env.repository.path)).toEqual(packs);
      expect((await stdoutDigest('cat', [raw])).sha256).toBe(digest); // read in a child: this process serves the mount

      await m.unmount();
      unmounted = true;
      await m.closed;
      const done = await env.repository.gc({ repackBelow: 1 });
      expect(done.chunksDeleted).toBeGreaterThan(0);
      expect((await packFiles(env.repository.path)).filter((p) => packs.includes(p)).length).toBeLessThan(packs.length);
    } finally {
      if (!unmounted) await m.unmount();
    }
  });

  it('a mount process killed with SIGKILL does not block gc: its lock is stale', { timeout: 240_000 }, async () => {
    build = await buildCli();
    const { rp } = await restorePoint('b');
    const dir = join(env.dir, 'mnt-b');
    await mkdir(dir);
    const child = spawn(process.execPath, [build.main, 'mount', '--repo', env.repository.path, '--restore-point', rp, dir], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((ok) => child.on('exit', (_code, signal) => ok(signal)));
    try {
      await until('the mount', async () => (await mountsUnder(dir)).includes(dir));
      await expect(env.repository.gc()).rejects.toThrow(`mount of restore point ${rp} on ${dir} (pid ${child.pid}`);
      // what an admin sees: hvsnap prune stops at its garbage collection, naming the mount and how to end it
      const prune = await cli('prune', '--repo', env.repository.path, '--keep-last', '10');
      expect(prune.code).not.toBe(0);
      expect(prune.stderr).toContain(`mount of restore point ${rp} on ${dir} (pid ${child.pid}`);
      expect(prune.stderr).toContain('hvsnap umount');
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      // the dead mount's lock is found stale and removed: gc runs
      expect((await env.repository.gc()).durationMs).toBeGreaterThanOrEqual(0);
      expect(await readdir(join(env.repository.path, 'locks'))).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      // the kernel keeps a dead FUSE mount until it is unmounted: hvsnap umount takes it away
      if ((await mountsUnder(dir)).length) {
        const u = await cli('umount', dir);
        expect(u.code, u.stderr).toBe(0);
      }
    }
    expect(await mountsUnder(dir)).toEqual([]);
  });
});
