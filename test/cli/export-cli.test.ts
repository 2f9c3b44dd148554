import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labJobBackedUp } from './lab-job.js';
import { cli } from './run-cli.js';

let job: Awaited<ReturnType<typeof labJobBackedUp>> | undefined;
afterEach(async () => job?.remove());

describe('hvsnap export, restore without --import, verify', () => {
  it('export and restore write the Hyper-V export layout; they and verify log progress as JSON when stderr is not a terminal', async () => {
    job = await labJobBackedUp();
    const { dir, file, restorePoint: rp } = job;
    for (const [command, verify] of [
      ['export', true],
      ['restore', false],
    ] as const) {
      const out = join(dir, command);
      const r = await cli(command, '--config', file, '--restore-point', rp, '--to', out, '--json', ...(verify ? ['--verify'] : []));
      expect(r.code, r.stderr).toBe(0);
      const data = JSON.parse(r.stdout) as { dir: string; configFiles: string[]; disks: Array<{ target: string; verified: boolean; sha256?: string }> };
      expect(data.dir).toBe(join(out, 'vm-01'));
      expect((await readdir(data.dir)).sort()).toEqual(['Virtual Hard Disks', 'Virtual Machines']);
      expect(data.configFiles).toEqual([expect.stringMatching(/^Virtual Machines\/[0-9A-F-]{36}\.vmcx$/)]);
      expect(await readdir(join(data.dir, 'Virtual Hard Disks'))).toEqual(['vm-01-disk0.vhdx']);
      // chunks are always checked as they are read; --verify also reads the written disk back
      expect(data.disks.every((d) => d.verified === verify && (d.sha256 !== undefined) === verify)).toBe(true);
      expect(r.logs.some((l) => l.msg === 'progress' && (l.obj.progress as { totalBytes: number }).totalBytes === 8 << 20)).toBe(true);
    }
    const verify = await cli('verify', '--config', file, '--deep');
    expect(verify.code).toBe(0);
    const last = verify.logs.filter((l) => l.msg === 'progress').pop()?.obj.progress as { doneBytes: number; totalBytes: number } | undefined;
    expect(last && last.totalBytes > 0 && last.doneBytes <= last.totalBytes).toBe(true);
    const again = await cli('export', '--config', file, '--restore-point', rp, '--to', join(dir, 'export'));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(join(dir, 'export', 'vm-01'));
  });
});
