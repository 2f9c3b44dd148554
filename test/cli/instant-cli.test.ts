import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLab } from '../../src/lab/index.js';
import { labJobBackedUp } from './lab-job.js';
import { cli } from './run-cli.js';

let job: Awaited<ReturnType<typeof labJobBackedUp>> | undefined;
afterEach(async () => job?.remove());

describe('hvsnap restore --instant and hvsnap instant', () => {
  it('restores instantly, lists, discards; flags are checked before anything is touched', async () => {
    job = await labJobBackedUp({ mode: 'snapshot-only' });
    const { dir, file, restorePoint: rp } = job;

    const noHost = await cli('restore', '--config', file, '--restore-point', rp, '--instant');
    expect(noHost.code).toBe(3);
    expect(noHost.stderr).toContain('--host');

    const r = await cli('restore', '--config', file, '--restore-point', rp, '--instant', '--host', 'hv-node-1', '--start', '--name', 'vm-01-now', '--json');
    expect(r.code, r.stderr).toBe(0);
    const session = JSON.parse(r.stdout) as { id: string; phase: string; vm: { id: string; name: string; started: boolean } };
    expect(session).toMatchObject({ phase: 'ready', vm: { name: 'vm-01-now', started: true } });
    expect((await openLab(join(dir, 'lab')).listVms({})).map((v) => v.name).sort()).toEqual(['vm-01', 'vm-01-now']);

    const list = await cli('instant', 'list', '--config', file);
    expect(list.stdout).toContain(`${session.id}  ready  VM vm-01-now`);
    const d = await cli('instant', 'discard', session.id, '--config', file);
    expect(d.code, d.stderr).toBe(0);
    expect((await cli('instant', 'list', '--config', file)).stdout).toContain('no instant restores');
    expect((await openLab(join(dir, 'lab')).listVms({})).map((v) => v.name)).toEqual(['vm-01']);
    const again = await cli('instant', 'discard', session.id, '--config', file);
    expect(again.code).toBe(4); // not found: nothing left to discard

    // an instant restore whose process died mid-way (its journal says "restoring", its owner is gone): hvsnap cleanup undoes it
    const r2 = await cli('restore', '--config', file, '--restore-point', rp, '--instant', '--host', 'hv-node-1', '--json');
    const s2 = JSON.parse(r2.stdout) as { id: string };
    const journal = join(dir, 'repo', '.instant', `${s2.id}.json`);
    const record = JSON.parse(await readFile(journal, 'utf8'));
    await writeFile(journal, JSON.stringify({ ...record, phase: 'restoring', owner: { ...record.owner, pid: spawnSync('true').pid } }));
    const c = await cli('cleanup', '--config', file, '--json');
    expect(c.code, c.stderr).toBe(0);
    expect((JSON.parse(c.stdout) as { replayed: string[] }).replayed).toContain(`instant restore ${s2.id}: undone`);
    expect((await openLab(join(dir, 'lab')).listVms({})).map((v) => v.name)).toEqual(['vm-01']);
    expect(await readdir(join(dir, 'lab', 'array', 'presentations'))).toEqual([]);
  });
});
