import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { backup, diskData, newRepo, tempDir } from '../repository/helpers.js';
import { writeV1Repository } from '../repository/v1-fixture.js';
import { cli } from './run-cli.js';

const saved = { ...process.env };
afterEach(() => {
  for (const k of ['HVSNAP_PASSPHRASE', 'HVSNAP_NEW_PASSPHRASE']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('repository administration commands', () => {
  it('init --encrypt takes the passphrase from the environment only, and passphrase changes it', async () => {
    const repo = join(await tempDir(), 'enc');
    delete process.env.HVSNAP_PASSPHRASE;
    const none = await cli('init', '--repo', repo, '--encrypt');
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('HVSNAP_PASSPHRASE');
    process.env.HVSNAP_PASSPHRASE = 'old secret';
    const init = await cli('init', '--repo', repo, '--encrypt');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('encryption aes-256-gcm');
    process.env.HVSNAP_NEW_PASSPHRASE = 'new secret';
    expect((await cli('passphrase', '--repo', repo)).code).toBe(0);
    const old = await cli('verify', '--repo', repo);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain('wrong passphrase');
    expect(old.stderr + old.stdout).not.toContain('old secret');
    process.env.HVSNAP_PASSPHRASE = 'new secret';
    expect((await cli('verify', '--repo', repo, '--deep', '--repair')).code).toBe(0);
  });

  it('verify --repair names a restore point no backup heals (its disk index damaged) and exits non-zero', async () => {
    const repo = await newRepo();
    const { manifest } = await backup(repo, { id: 'D1000000-0000-0000-0000-0000000000C1', name: 'heal-cli' }, diskData(2));
    const disks = join(repo.path, 'restore-points', manifest.id, 'disks');
    const [file] = await readdir(disks);
    const bytes = await readFile(join(disks, file));
    bytes[bytes.length - 1] ^= 1;
    await writeFile(join(disks, file), bytes);
    await repo.close();
    const r = await cli('verify', '--repo', repo.path, '--repair');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('repair: 1 pack(s) read, 0 dropped, 0 index file(s) replaced, 0 chunk copy(ies) dropped\n');
    expect(r.stdout).toContain(
      `restore point ${manifest.id} (heal-cli) cannot be read, and no backup heals it (move it out of the repository): index of disk `,
    );
  });

  it('init --chunk-size takes bytes or a K/M size, and refuses one that is not a power of two from 64 KiB to 16 MiB', async () => {
    const dir = await tempDir();
    for (const [flag, bytes] of [
      ['262144', 262144],
      ['256K', 262144],
      ['1M', 1048576],
      ['64KiB', 65536],
    ] as const) {
      const repo = join(dir, `r${bytes}-${flag}`);
      const init = await cli('init', '--repo', repo, '--chunk-size', flag, '--json');
      expect(init.code, `--chunk-size ${flag}`).toBe(0);
      expect(JSON.parse(init.stdout)).toMatchObject({ chunkSize: bytes });
    }
    const byDefault = await cli('init', '--repo', join(dir, 'default'));
    expect(byDefault.code).toBe(0);
    expect(byDefault.stdout).toContain('256 KiB chunks');
    for (const flag of ['100K', '32K', '32M', 'big']) {
      const bad = await cli('init', '--repo', join(dir, `bad-${flag}`), '--chunk-size', flag);
      expect(bad.code, `--chunk-size ${flag}`).not.toBe(0);
      expect(bad.stderr).toContain('--chunk-size');
      expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
    }
  });

  it('a v1 repository is refused with the migrate hint; migrate converts it', async () => {
    const repo = join(await tempDir(), 'v1');
    await writeV1Repository(repo, [{ id: 'E2000000-0000-0000-0000-000000000001', name: 'old-01', data: diskData(3) }]);
    const refused = await cli('list', '--repo', repo);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`hvsnap migrate --repo ${repo}`);
    const m = await cli('migrate', '--repo', repo);
    expect(m.code).toBe(0);
    expect(m.stdout).toContain('migrated to version 3: 1 restore point(s)');
    const list = await cli('list', '--repo', repo);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('old-01');
  });
});
