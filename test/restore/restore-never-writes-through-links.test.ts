import { writeLabJob } from '../helpers/lab-job-config.js';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { EXPORT_DISK_FOLDER as DISKS } from '../../src/restore/export-vm.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { createVhdx, writeVhdxStream } from '../../src/vhdx/index.js';
import { cli } from '../cli/run-cli.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

async function labConfig(e: LabEnv): Promise<string> {
  return writeLabJob(e.dir);
}

describe('restore never writes outside its target', () => {
  // `hvsnap restore` writes Hyper-V's export layout: the disk is `<to>/vm-01/Virtual Hard Disks/vm-01-disk0.vhdx`
  it("a link planted at the old .partial name is never followed (the issue's exact scenario)", async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const rp = (await runBackup(env)).vms[0].restorePointId!;
    const victim = join(env.dir, 'victim');
    await writeFile(victim, 'precious');
    // the disk writer, into the folder where the export puts the disk: the disk is written beside the link
    const direct = join(env.dir, 'direct', 'vm-01', DISKS);
    await mkdir(direct, { recursive: true });
    await symlink('../../../victim', join(direct, 'vm-01-disk0.vhdx.partial'));
    await restoreVm({ repository: env.repository, restorePointId: rp, targetDir: direct });
    expect(await readFile(victim, 'utf8')).toBe('precious');
    expect((await lstat(join(direct, 'vm-01-disk0.vhdx'))).isFile()).toBe(true);
    expect((await lstat(join(direct, 'vm-01-disk0.vhdx.partial'))).isSymbolicLink()).toBe(true);
    expect((await readdir(direct)).sort()).toEqual(['vm-01-disk0.vhdx', 'vm-01-disk0.vhdx.partial']);
    await env.repository.close();
    // the CLI: ln -s ../../../victim "to/vm-01/Virtual Hard Disks/vm-01-disk0.vhdx.partial"
    const to = join(env.dir, 'to');
    const disks = join(to, 'vm-01', DISKS);
    await mkdir(disks, { recursive: true });
    await symlink('../../../victim', join(disks, 'vm-01-disk0.vhdx.partial'));
    const r = await cli('restore', '--config', await labConfig(env), '--restore-point', rp, '--to', to);
    expect(await readFile(victim, 'utf8')).toBe('precious');
    // an export never writes into a VM folder that holds anything: the planted link untouched, nothing written
    expect(r.code).not.toBe(0);
    expect((await lstat(join(disks, 'vm-01-disk0.vhdx.partial'))).isSymbolicLink()).toBe(true);
    expect(await readdir(disks)).toEqual(['vm-01-disk0.vhdx.partial']);
    expect(await readdir(join(to, 'vm-01'))).toEqual([DISKS]);
  });

  it('a link planted at the final name is refused (dangling or not) and nothing is written', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const rp = (await runBackup(env)).vms[0].restorePointId!;
    // the disk writer, with a link at the disk's final name in the export's disk folder
    const direct = join(env.dir, 'direct', 'vm-01', DISKS);
    await mkdir(direct, { recursive: true });
    await symlink('../../../not-yet-there', join(direct, 'vm-01-disk0.vhdx'));
    await expect(restoreVm({ repository: env.repository, restorePointId: rp, targetDir: direct })).rejects.toThrow('link planted in the way');
    expect(await readdir(env.dir)).not.toContain('not-yet-there');
    expect(await readdir(direct)).toEqual(['vm-01-disk0.vhdx']);
    await env.repository.close();
    // the CLI, with links planted at the folders the export creates (a recursive mkdir would follow them)
    const elsewhere = join(env.dir, 'elsewhere');
    await mkdir(elsewhere);
    for (const [at, target] of [
      ['vm-01', '../elsewhere'],
      [join('vm-01', DISKS), '../../elsewhere'],
    ] as const) {
      const to = join(env.dir, `to-${at.length}`);
      await mkdir(join(to, at, '..'), { recursive: true });
      await symlink(target, join(to, at));
      const r = await cli('restore', '--config', await labConfig(env), '--restore-point', rp, '--to', to);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('link planted in the way');
      expect(await readdir(elsewhere)).toEqual([]);
      expect((await lstat(join(to, at))).isSymbolicLink()).toBe(true);
    }
  });

  it('a restore into /proc is refused before anything is written', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const rp = (await runBackup(env)).vms[0].restorePointId!;
    await env.repository.close();
    const r = await cli('restore', '--config', await labConfig(env), '--restore-point', rp, '--to', '/proc/hvsnap-x');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('proc file system');
  });

  it('the VHDX writers create files exclusively and never through a link', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 0 });
    const victim = join(env.dir, 'victim');
    await writeFile(victim, 'precious');
    await symlink(victim, join(env.dir, 'a.vhdx'));
    await expect(createVhdx(join(env.dir, 'a.vhdx'), { virtualSize: 4 << 20 })).rejects.toMatchObject({ code: 'already_exists' });
    await expect(writeVhdxStream(join(env.dir, 'a.vhdx'), { virtualSize: 4 << 20, source: (async function* () {})() })).rejects.toMatchObject({
      code: 'already_exists',
    });
    await symlink(join(env.dir, 'nowhere'), join(env.dir, 'b.vhdx'));
    await expect(createVhdx(join(env.dir, 'b.vhdx'), { virtualSize: 4 << 20 })).rejects.toMatchObject({ code: 'already_exists' });
    expect(await readFile(victim, 'utf8')).toBe('precious');
    expect(await readdir(env.dir)).not.toContain('nowhere');
  });
});
