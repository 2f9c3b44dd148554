import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { cleanupLeftovers } from '../../src/backup/cleanup.js';
import type { LabState } from '../../src/lab/index.js';
import { buildForChild } from '../helpers/child-build.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { workLeftovers } from '../helpers/leftovers.js';

const WRITER = `
import { labWrite } from './src/lab/index.js';
const [dir] = process.argv.slice(2);
process.stdout.write('go\\n');
for (let i = 0; ; i++) await labWrite({ dir, vm: 'vm-01', count: 4, sizeBytes: 64 << 10, seed: i });
`;

let build: Awaited<ReturnType<typeof buildForChild>>;
let env: LabEnv | undefined;
beforeAll(async () => {
  build = await buildForChild(['src/lab/index.ts'], { 'writer.mjs': WRITER });
}, 120_000);
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});
afterAll(async () => build?.remove());

const labState = async (e: LabEnv) => JSON.parse(await readFile(join(e.labDir, 'lab.json'), 'utf8')) as LabState;

describe('the lab after a kill', () => {
  it('cleanup mends a deferred merge whose AVHDX is gone, and the next backup of the VM works', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    expect((await runBackup(env)).ok).toBe(true);
    const disk = (await labState(env)).vms[0].disks[0];
    // the state a kill left between removing the merged AVHDX and saving lab.json
    expect(disk.pendingMerge).toBeDefined();
    await rm(join(env.labDir, 'volumes', 'Volume1', ...disk.pendingMerge!.relativePath.split('/')));
    const report = await cleanupLeftovers(env);
    expect(report.hostMended).toEqual([`deferred merge already done: vm-01 ${disk.id}: ${disk.pendingMerge!.relativePath}`]);
    expect((await labState(env)).vms[0].disks[0].pendingMerge).toBeUndefined();
    const next = await runBackup(env);
    expect(next.ok, JSON.stringify(next.vms[0].error)).toBe(true);
    expect(next.vms[0].disks[0].mode).toBe('incremental');
  });

  it('writers killed at random points leave nothing cleanup does not mend; every later backup works', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    for (let i = 0; i < 12; i++) {
      // a backup leaves a deferred merge that the writer's first write settles
      const r = await runBackup(env);
      expect(r.ok, `round ${i}: ${JSON.stringify(r.vms[0].error)}`).toBe(true);
      const w = spawn(process.execPath, [join(build.dir, 'writer.mjs'), env.labDir], { stdio: ['ignore', 'pipe', 'ignore'] });
      await once(w.stdout!, 'data');
      await new Promise((res) => setTimeout(res, Math.random() * 120));
      const exited = once(w, 'exit');
      w.kill('SIGKILL');
      await exited;
      await cleanupLeftovers(env);
      expect(await workLeftovers(env.labDir)).toEqual([]);
    }
    expect((await runBackup(env)).ok).toBe(true);
  }, 120_000);

  it('the lab array removes the work folders of its processes that died, and keeps those of live ones', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 0 });
    const snapshots = join(env.labDir, 'array', 'snapshots');
    const dead = (await import('node:child_process')).spawnSync('true').pid!;
    const planted = [`.tmp-hvsnap-j1-s0-p${dead}-0123abcd`, `.del-hvsnap-j1-s0-p${dead}-89abcdef`, `.tmp-hvsnap-j2-s0-p${process.pid}-00000000`];
    for (const p of planted) await mkdir(join(snapshots, p, 'Volume1'), { recursive: true });
    expect(await env.provider.listSnapshots({ prefix: 'hvsnap-' }, {})).toEqual([]);
    expect(await readdir(snapshots)).toEqual([planted[2]]);
  });
});
