import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { labDiskFile, loadLabState } from '../../src/lab/index.js';
import { sessionDir } from '../../src/restore/instant/instant-sessions.js';
import { buildCli } from '../helpers/build-cli.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { runKilled, writeLabJobConfig } from '../helpers/kill-cli.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { workLeftovers } from '../helpers/leftovers.js';
import { describeWith } from '../helpers/requirements.js';
import { cli } from '../cli/run-cli.js';

/**
 * A real crash of `hvsnap restore --instant`: the CLI runs as its own process and SIGKILLs itself
 * (the runner's HVSNAP_TEST_KILL_AFTER hook) right after a journaled side effect of the instant
 * restore. `hvsnap cleanup` must then leave nothing of it — judged by reading the lab host's and
 * the lab array's own state, not by what cleanup reports — and the original VM must be untouched.
 */
let build: Awaited<ReturnType<typeof buildCli>>;
beforeAll(async () => (build = await buildCli()), 180_000);
afterAll(async () => build?.remove());

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

describeWith('an instant restore killed mid-way, then hvsnap cleanup (lab)', { tools: ['qemu-img'] }, () => {
  let env: LabEnv;
  afterAll(async () => env?.cleanup());

  it.each(['node-host', 'present', 'online-disk', 'import', 'start'])(
    'killed after %s: cleanup leaves no VM, no clone, no presentation, no lock; the original and the kept snapshot are untouched',
    async (step) => {
      env ??= await makeLabEnv({ vms: 1, volumes: 1, disksPerVm: 2, diskSizeBytes: 8 << 20, dataBytes: 1 << 20, lockTimeoutMs: 1000 });
      const config = await writeLabJobConfig(env);
      const backup = await runBackup(env, { policy: { mode: 'snapshot-only' } });
      expect(backup.ok).toBe(true);
      const restorePoint = backup.vms[0].restorePointId!;
      const [original] = await env.hypervisor.listVms({});
      const originalDigests = await Promise.all(original.disks.map(async (d) => qemuRawDigest(await labDiskFile(env.labDir, original.id, d.id))));
      const arrayDir = join(env.labDir, 'array');
      const listed = (sub: string) => readdir(join(arrayDir, sub)).catch(() => [] as string[]);

      const run = await runKilled(
        build.main,
        ['restore', '-c', config, '--restore-point', restorePoint, '--instant', '--host', 'hv-node-1', '--start', '--name', `killed-${step}`],
        step,
      );
      expect(run.signal, run.stderr).toBe('SIGKILL');
      // the kill came after the presentation (and, past present, the host's side of it): it is there, and only the journal knows it;
      // at node-host it came before (the lab array presents by the host's name: it has no host object to make)
      expect(await listed('presentations')).toHaveLength(step === 'node-host' ? 0 : 1);
      expect((await readdir(sessionDir(env.repository.path))).filter((f) => f.endsWith('.json'))).toHaveLength(1);
      const killedState = await loadLabState(env.labDir);
      expect(killedState.volumes.length).toBe(step === 'present' || step === 'node-host' ? 1 : 2); // past present: the clone is a volume of the host
      expect(killedState.vms.some((v) => v.name === `killed-${step}`)).toBe(step === 'import' || step === 'start');

      const cleanup = await cli('--json', 'cleanup', '-c', config);
      expect(cleanup.code, cleanup.stderr).toBe(0);

      // the lab's own state: only the original VM and its volume; no presentation, no clone on the array
      const state = await loadLabState(env.labDir);
      expect(state.vms.map((v) => v.id)).toEqual([original.id]);
      expect(state.volumes.map((v) => v.name)).toEqual(['Volume1']);
      expect(await listed('presentations')).toEqual([]);
      expect(await listed('clones')).toEqual([]);
      expect(await readdir(sessionDir(env.repository.path))).toEqual([]);
      // no lab lock held or half-made, no draft of a killed process anywhere in the lab
      expect(await exists(join(env.labDir, '.lab.lock'))).toBe(false);
      expect(await workLeftovers(env.labDir)).toEqual([]);
      // the original VM's disks read as before; the restore point's snapshot is kept
      const [after] = await env.hypervisor.listVms({ names: [original.id] });
      expect(after.disks.map((d) => d.path)).toEqual(original.disks.map((d) => d.path));
      for (const [i, d] of original.disks.entries()) expect(await qemuRawDigest(await labDiskFile(env.labDir, original.id, d.id))).toBe(originalDigests[i]);
      expect((await env.provider.listSnapshots({})).map((s) => s.name)).toContain(backup.sets[0].snapshot);
    },
    120_000,
  );
});
