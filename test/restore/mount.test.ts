import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { commandModules } from '../../src/cli/commands/index.js';
import { runCli } from '../../src/cli/program.js';
import { captureLogger } from '../../src/core/logger.js';
import { labDiskFile } from '../../src/lab/index.js';
import { writeVhdxAt } from '../../src/lab/disk-io.js';
import { mountRestorePoint } from '../../src/restore/mount/mount-restore-point.js';
import { mountsUnder } from '../../src/restore/mount/mount-table.js';
import { repositorySource } from '../../src/restore/restore-point-source.js';
import { stdoutDigest } from '../helpers/async-digest.js';
import { fileDigest, qemuRawDigest } from '../helpers/digests.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { buildCli } from '../helpers/build-cli.js';
import { describeWith } from '../helpers/requirements.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { LAYOUT, makeNtfsDiskImage } from '../proxy/ntfs-image.js';
import { cli } from '../cli/run-cli.js';

const run = promisify(execFile);
const MiB = 1 << 20;

describeWith(
  'hvsnap mount: a restore point as VHDX, raw and NTFS files through FUSE',
  { tools: ['qemu-img', '7zz', 'ntfs-3g', 'mkntfs', 'sfdisk', 'losetup', 'fusermount3'], root: true, fuse: true },
  () => {
    let env: LabEnv;
    let rp: string;
    let restoredRaw: string;
    const report = randomBytes(3 * MiB + 123);
    beforeAll(async () => {
      env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: LAYOUT.totalBytes, dataBytes: 0 });
      // the guest's disk holds a GPT with an NTFS volume (partition 2) and a file in it
      const image = join(env.dir, 'guest.img');
      await makeNtfsDiskImage(image, { 'Docs/report.bin': report });
      const [vm] = await env.hypervisor.listVms({});
      const raw = await readFile(image);
      const writes = [];
      for (let o = 0; o < raw.length; o += MiB) writes.push({ offset: o, data: raw.subarray(o, o + MiB) });
      await writeVhdxAt(await labDiskFile(env.labDir, vm.name, vm.disks[0].id), writes);
      const b = await runBackup(env);
      expect(b.ok).toBe(true);
      rp = b.vms[0].restorePointId!;
      const restored = await restoreVm({ repository: env.repository, restorePointId: rp, targetDir: join(env.dir, 'restored') });
      restoredRaw = await qemuRawDigest(restored.disks[0].target);
      expect(restoredRaw).toBe(await fileDigest(image)); // the backup holds the guest's disk as written
    });
    afterAll(async () => env?.cleanup());

    it('serves the synthesized VHDX (qemu-img, 7-Zip), the raw image and the NTFS files byte-identical; hvsnap umount takes it all down', async () => {
      const dir = join(env.dir, 'mnt');
      await mkdir(dir);
      const m = await mountRestorePoint({ source: repositorySource(env.repository), restorePointId: rp, dir, files: true, pollMs: 100 });
      try {
        expect(m.files.sort()).toEqual(['vm-01/vm-01-disk0-p2.img', 'vm-01/vm-01-disk0.raw', 'vm-01/vm-01-disk0.vhdx']);
        expect(m.volumes).toEqual(['vm-01/vm-01-disk0-p2']);
        const vhdx = join(dir, 'vm-01', 'vm-01-disk0.vhdx');
        // every read below runs in a child process: this process serves the file system
        await run('qemu-img', ['check', '-f', 'vhdx', vhdx]);
        await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vhdx, join(env.dir, 'from-mount.raw')]);
        expect(await fileDigest(join(env.dir, 'from-mount.raw'))).toBe(restoredRaw);
        expect((await stdoutDigest('7zz', ['e', '-so', '-tvhdx', vhdx])).sha256).toBe(restoredRaw);
        expect((await stdoutDigest('cat', [join(dir, 'vm-01', 'vm-01-disk0.raw')])).sha256).toBe(restoredRaw);
        await run('cp', [join(dir, 'vm-01', 'vm-01-disk0-p2', 'Docs', 'report.bin'), join(env.dir, 'copied.bin')]);
        expect((await readFile(join(env.dir, 'copied.bin'))).equals(report)).toBe(true);
        // read-only all the way down
        await expect(run('sh', ['-c', `echo x > '${join(dir, 'vm-01', 'vm-01-disk0-p2', 'new.txt')}'`])).rejects.toThrow(/Read-only/i);
        await expect(run('sh', ['-c', `echo x >> '${vhdx}'`])).rejects.toThrow(/Read-only|Permission/i);
      } finally {
        const u = await cli('umount', dir);
        expect(u.code, u.stderr).toBe(0);
      }
      await m.closed; // the serving side noticed
      expect(await mountsUnder(dir)).toEqual([]);
    });

    it('the mount command serves until interrupted (Ctrl-C), then unmounts everything', async () => {
      const dir = join(env.dir, 'mnt-cli');
      await mkdir(dir);
      const controller = new AbortController();
      let stderr = '';
      let stdout = '';
      const logs = captureLogger();
      const io = {
        stdout: { write: (s: string | Uint8Array) => ((stdout += String(s)), true) },
        stderr: { write: (s: string | Uint8Array) => ((stderr += String(s)), true) },
        env: {},
        logger: () => logs,
      };
      const done = runCli(['mount', '--repo', env.repository.path, '--restore-point', rp, '--files', dir], io, commandModules, controller.signal);
      for (let i = 0; i < 200 && !stderr.includes('mounted'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(stderr).toContain(`mounted ${rp} on ${dir}`);
      expect((await mountsUnder(dir)).sort()).toEqual([dir, join(dir, 'vm-01', 'vm-01-disk0-p2')]);
      expect((await stdoutDigest('cat', [join(dir, 'vm-01', 'vm-01-disk0-p2', 'Docs', 'report.bin')])).bytes).toBe(report.length);
      const locks = () => readdir(join(env.repository.path, 'locks'));
      const whileMounted = await locks();
      controller.abort(new Error('interrupted (SIGINT)'));
      expect(await done).toBe(0);
      expect(stdout).toContain(`unmounted ${dir}`);
      expect(await mountsUnder(dir)).toEqual([]);
      // the mount held the repository for reading (gc refuses meanwhile), and lets go of it on Ctrl-C; the
      // first test's mount, taken away by hvsnap umount, let go of its own
      expect(whileMounted).toEqual([expect.stringMatching(/^shared-/)]);
      expect(await locks()).toEqual([]);
    });

    it(
      'a mount --files killed with SIGKILL: ntfs-3g holds no descriptor of its FUSE connection, so hvsnap umount takes it all down',
      { timeout: 240_000 },
      async () => {
        const build = await buildCli();
        const dir = join(env.dir, 'mnt-killed');
        await mkdir(dir);
        const child = spawn(process.execPath, [build.main, 'mount', '--repo', env.repository.path, '--restore-point', rp, '--files', dir], { stdio: 'ignore' });
        const exited = new Promise<NodeJS.Signals | null>((ok) => child.on('exit', (_code, signal) => ok(signal)));
        try {
          for (let i = 0; i < 300 && (await mountsUnder(dir)).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
          expect((await mountsUnder(dir)).sort()).toEqual([dir, join(dir, 'vm-01', 'vm-01-disk0-p2')]);
          const [daemon] = await ntfsDaemonsUnder(dir);
          // its own /dev/fuse only: one of the mount's would keep the mount's connection open once the mount is dead
          expect(await fuseDescriptorsOf(daemon)).toHaveLength(1);
          child.kill('SIGKILL');
          expect(await exited).toBe('SIGKILL');
          const u = await Promise.race([cli('umount', dir), new Promise<never>((_, no) => setTimeout(() => no(new Error('hvsnap umount hangs')), 30_000))]);
          expect(u.code, u.stderr).toBe(0);
          expect(await mountsUnder(dir)).toEqual([]);
        } finally {
          child.kill('SIGKILL');
          // whatever happened, no hanging mount is left on the machine: the daemons first, then the mounts
          for (const pid of await ntfsDaemonsUnder(dir)) process.kill(pid, 'SIGKILL');
          for (const m of await mountsUnder(dir)) await run('umount', ['-l', m]).catch(() => undefined);
          await build.remove();
        }
      },
    );
  },
);

/** The pids of the ntfs-3g processes serving a volume below `dir`. */
async function ntfsDaemonsUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.endsWith('ntfs-3g') && argv.some((a) => a.startsWith(`${dir}/`))) out.push(Number(pid));
  }
  return out;
}

/** The descriptors of /dev/fuse process `pid` holds. */
async function fuseDescriptorsOf(pid: number): Promise<string[]> {
  const fds = await readdir(`/proc/${pid}/fd`);
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return fds.filter((_, i) => targets[i] === '/dev/fuse');
}
