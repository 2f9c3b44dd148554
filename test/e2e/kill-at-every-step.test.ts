import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { backupModes, type BackupMode } from '../../src/backup/steps/index.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labPinFrozen, labWrite } from '../../src/lab/index.js';
import { EXPORT_DISK_FOLDER } from '../../src/restore/export-vm.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { buildCli } from '../helpers/build-cli.js';
import { runKilled, writeLabJobConfig } from '../helpers/kill-cli.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { workLeftovers } from '../helpers/leftovers.js';
import { imageSha256 } from '../vhdx/helpers.js';
import { cli } from '../cli/run-cli.js';

/**
 * The crash test of the issue, in the suite: for every step of both backup modes and of a restore,
 * `hvsnap` runs as its own process and is SIGKILLed by the runner's hook right after that step's
 * side effect. Then `hvsnap cleanup` must leave: no checkpoint, no reference point beyond the one
 * each VM's latest restore point needs, no array snapshot beyond those restore points keep, no
 * presentation or proxy mount, no temporary entry (repository, journal, lab, lab array, restore
 * folder); `verify --deep` passes; the next backup is incremental where it should be, and every
 * restore point it makes restores byte-identical to the disk its checkpoint froze.
 */
const RESTORE_STEPS = ['present', 'attach', 'copy-out']; // restore-from-snapshot.ts, restoreSteps
const MOUNTS = join(tmpdir(), 'hvsnap-local-mounts'); // the local proxy's default mount root

let build: Awaited<ReturnType<typeof buildCli>>;
beforeAll(async () => (build = await buildCli()), 180_000);
afterAll(async () => build?.remove());

async function labWithConfig(mode: BackupMode): Promise<{ env: LabEnv; config: string }> {
  const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20, lockTimeoutMs: 1000 });
  return { env, config: await writeLabJobConfig(env, [`policy: { mode: ${mode} }`]) };
}

/** Everything a killed run may leave, after `hvsnap cleanup`: only what committed restore points keep. */
async function expectClean(env: LabEnv, killedJob: string): Promise<void> {
  const left = await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' });
  expect(left.checkpoints).toEqual([]);
  const points = await env.repository.listRestorePoints();
  const latest = new Map(points.map((p) => [p.vm.id, p.referencePointId]));
  expect(left.referencePoints.map((r) => r.id).sort()).toEqual([...latest.values()].filter(Boolean).sort());
  const kept = [...new Set(points.flatMap((p) => p.arraySnapshots.filter((s) => s.retained).map((s) => s.name)))].sort();
  expect((await env.provider.listSnapshots({ prefix: 'hvsnap-' }, {})).map((s) => s.name).sort()).toEqual(kept);
  expect((await readdir(join(env.labDir, 'array', 'presentations')).catch(() => [] as string[])).filter((f) => !f.startsWith('.'))).toEqual([]);
  expect((await readdir(MOUNTS).catch(() => [] as string[])).filter((m) => m.includes(killedJob))).toEqual([]);
  expect(await readdir(join(env.repository.path, 'tmp')).catch(() => [])).toEqual([]);
  expect(await readdir(join(env.repository.path, '.journal')).catch(() => [])).toEqual([]);
  expect(await workLeftovers(env.dir)).toEqual([]);
}

async function digest(file: string): Promise<string> {
  const img = await openVhdx(file);
  try {
    return await imageSha256(img);
  } finally {
    await img.close();
  }
}

/** The next backup after the crash: ok, incremental (offload), and every restore point restores as its checkpoint froze it. */
async function expectNextBackupRestores(env: LabEnv, config: string, mode: BackupMode): Promise<void> {
  const frozen = new Map<string, Record<string, string>>();
  const pin = async (cps: Checkpoint[]) => {
    for (const cp of cps) frozen.set(`${cp.vmName}@${cp.name}`, await labPinFrozen(env.labDir, cp, join(env.dir, 'frozen')));
  };
  await labWrite({ dir: env.labDir, vm: 'vm-02', count: 4, sizeBytes: 64 << 10, seed: 2 });
  const next = await runBackup(env, { policy: { mode }, hooks: { onCheckpoints: pin } });
  expect(next.ok, JSON.stringify(next.vms.map((v) => v.error))).toBe(true);
  if (mode === 'offload') expect(next.vms.flatMap((v) => v.disks.map((d) => d.mode))).toEqual(['incremental', 'incremental']);
  for (const v of next.vms) {
    const to = join(env.dir, 'restored', v.restorePointId!);
    const r = await cli('--json', 'restore', '-c', config, '--restore-point', v.restorePointId!, '--to', to);
    expect(r.code, r.stderr).toBe(0);
    const restored = JSON.parse(r.stdout) as { disks: Array<{ diskId: string; target: string }> };
    const pinned = frozen.get(`${v.vm}@hvsnap:${next.jobId}`)!;
    for (const d of restored.disks) expect(await digest(d.target)).toBe(await digest(pinned[d.diskId]));
  }
}

const killPoints = [
  ...backupModes.offload.map((s) => ['offload', s.name] as const),
  ...backupModes['snapshot-only'].map((s) => ['snapshot-only', s.name] as const),
];

describe(`a backup killed right after each step (${killPoints.length} kill points), then hvsnap cleanup`, () => {
  it.each(killPoints)(
    '%s, killed after %s',
    async (mode, step) => {
      const { env, config } = await labWithConfig(mode);
      try {
        expect((await runBackup(env, { policy: { mode } })).ok).toBe(true);
        await labWrite({ dir: env.labDir, vm: 'vm-01', count: 6, sizeBytes: 64 << 10, seed: 1 });
        const run = await runKilled(build.main, ['backup', '-c', config], step);
        expect(run.signal, `${run.code} ${run.stderr}`).toBe('SIGKILL');
        const journals = await readdir(join(env.repository.path, '.journal'));
        expect(journals).toHaveLength(1);
        const killedJob = journals[0].replace(/\.jsonl$/, '');
        const cleanup = await cli('--json', 'cleanup', '-c', config);
        expect(cleanup.code, cleanup.stdout + cleanup.stderr).toBe(0);
        await expectClean(env, killedJob);
        const verify = await cli('verify', '-c', config, '--deep');
        expect(verify.code, verify.stdout + verify.stderr).toBe(0);
        await expectNextBackupRestores(env, config, mode);
      } finally {
        await env.cleanup();
      }
    },
    120_000,
  );
});

describe(`a snapshot-only restore killed right after each step (${RESTORE_STEPS.length} kill points), then hvsnap cleanup`, () => {
  it.each(RESTORE_STEPS)(
    'killed after %s',
    async (step) => {
      const { env, config } = await labWithConfig('snapshot-only');
      try {
        const backup = await runBackup(env, { policy: { mode: 'snapshot-only' } });
        const to = join(env.dir, 'restored');
        const run = await runKilled(build.main, ['restore', '-c', config, '--restore-point', backup.vms[0].restorePointId!, '--to', to], step);
        expect(run.signal, `${run.code} ${run.stderr}`).toBe('SIGKILL');
        const killedJob = (await readdir(join(env.repository.path, '.journal')))[0]?.replace(/\.jsonl$/, '') ?? 'none';
        const cleanup = await cli('--json', 'cleanup', '-c', config);
        expect(cleanup.code, cleanup.stdout + cleanup.stderr).toBe(0);
        // the killed restore's private folder stays until the next restore into that folder removes it
        const again = await cli('--json', 'restore', '-c', config, '--restore-point', backup.vms[0].restorePointId!, '--to', to);
        expect(again.code, again.stderr).toBe(0);
        // restore writes Hyper-V's export layout: the disk in <to>/<VM>/Virtual Hard Disks, no private folder left
        expect(await readdir(to)).toEqual(['vm-01']);
        expect((await readdir(join(to, 'vm-01', EXPORT_DISK_FOLDER))).sort()).toEqual(['vm-01-disk0.vhdx']);
        await expectClean(env, killedJob);
        await expectNextBackupRestores(env, config, 'snapshot-only');
      } finally {
        await env.cleanup();
      }
    },
    120_000,
  );
});
