import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLab, openLab } from '../../src/lab/index.js';
import { cli } from './run-cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hvsnap-cli-'));
  await createLab({ dir: join(dir, 'lab'), vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hvsnap restore --instant and hvsnap instant', () => {
  it('restores instantly, lists, discards; flags are checked before anything is touched', async () => {
    const file = join(dir, 'job.yaml');
    await writeFile(
      file,
      stringify({
        hypervisor: { kind: 'lab', dir: './lab' },
        provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array' } },
        proxy: { kind: 'local', host: { name: 'proxy-1' } },
        repository: { path: './repo' },
        policy: { mode: 'snapshot-only' },
      }),
    );
    const b = await cli('backup', '--config', file, '--json');
    expect(b.code, b.stderr).toBe(0);
    const rp = JSON.parse(b.stdout).vms[0].restorePointId as string;

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
  });
});
