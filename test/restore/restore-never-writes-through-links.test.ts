import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { createVhdx, writeVhdxStream } from '../../src/vhdx/index.js';
import { cli } from '../cli/run-cli.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

async function labConfig(e: LabEnv): Promise<string> {
  const file = join(e.dir, 'job.yaml');
  await writeFile(
    file,
    stringify({
      hypervisor: { kind: 'lab', dir: './lab' },
      provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array' } },
      proxy: { kind: 'local', host: { name: 'proxy-1' } },
      repository: { path: './repo' },
    }),
  );
  return file;
}

describe('restore never writes outside its target', () => {
  it("a link planted at the old .partial name is never followed (the issue's exact scenario)", async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const rp = (await runBackup(env)).vms[0].restorePointId!;
    await env.repository.close();
    const victim = join(env.dir, 'victim');
    await writeFile(victim, 'precious');
    const to = join(env.dir, 'to');
    await mkdir(to);
    // ln -s ../victim to/vm-01-disk0.vhdx.partial
    await symlink('../victim', join(to, 'vm-01-disk0.vhdx.partial'));
    const r = await cli('restore', '--config', await labConfig(env), '--restore-point', rp, '--to', to);
    expect(await readFile(victim, 'utf8')).toBe('precious');
    expect(r.code).toBe(0);
    // the disk is a file of its own in the target, the planted link untouched, no private folder left
    expect((await lstat(join(to, 'vm-01-disk0.vhdx'))).isFile()).toBe(true);
    expect((await lstat(join(to, 'vm-01-disk0.vhdx.partial'))).isSymbolicLink()).toBe(true);
    expect((await readdir(to)).sort()).toEqual(['vm-01-disk0.vhdx', 'vm-01-disk0.vhdx.partial']);
  });

  it('a link planted at the final name is refused (dangling or not) and nothing is written', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const rp = (await runBackup(env)).vms[0].restorePointId!;
    await env.repository.close();
    const to = join(env.dir, 'to');
    await mkdir(to);
    await symlink('../not-yet-there', join(to, 'vm-01-disk0.vhdx'));
    const r = await cli('restore', '--config', await labConfig(env), '--restore-point', rp, '--to', to);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('link planted in the way');
    expect(await readdir(env.dir)).not.toContain('not-yet-there');
    expect(await readdir(to)).toEqual(['vm-01-disk0.vhdx']);
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
