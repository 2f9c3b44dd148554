import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diskData, tempDir } from '../repository/helpers.js';
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

  it('a v1 repository is refused with the migrate hint; migrate converts it', async () => {
    const repo = join(await tempDir(), 'v1');
    await writeV1Repository(repo, [{ id: 'E2000000-0000-0000-0000-000000000001', name: 'old-01', data: diskData(3) }]);
    const refused = await cli('list', '--repo', repo);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`hvsnap migrate --repo ${repo}`);
    const m = await cli('migrate', '--repo', repo);
    expect(m.code).toBe(0);
    expect(m.stdout).toContain('migrated 1 restore point(s)');
    const list = await cli('list', '--repo', repo);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('old-01');
  });
});
