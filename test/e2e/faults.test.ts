import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import type { BackupHooks, StepName } from '../../src/backup/types.js';
import { updateLabState, type LabOp } from '../../src/lab/index.js';
import { labProvider } from '../../providers/lab/index.js';
import { createLocalProxy } from '../../proxy/local/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** Everything a backup could leave behind, gathered from the real lab host, array and repository. */
async function leftovers(e: LabEnv) {
  const host = await e.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' });
  const ls = (p: string) => readdir(p).catch(() => [] as string[]);
  return {
    checkpoints: host.checkpoints.length,
    snapshots: (await e.provider.listSnapshots({})).length + (await ls(join(e.labDir, 'array', 'snapshots'))).length,
    presentations: (await ls(join(e.labDir, 'array', 'presentations'))).length,
    restorePoints: (await e.repository.listRestorePoints()).length,
    referencePoints: host.referencePoints.length,
    journals: (await ls(join(e.repository.path, '.journal'))).length,
  };
}

type Injection = { kind: 'lab'; op: LabOp } | { kind: 'array'; op: 'createSnapshot' | 'present' } | { kind: 'proxy' } | { kind: 'hook'; hooks: BackupHooks };

const cases: Array<{ step: StepName; inject: Injection; scope: 'vm' | 'set'; needsPrevious?: boolean }> = [
  { step: 'checkpoint', inject: { kind: 'lab', op: 'createCheckpoint' }, scope: 'vm' },
  { step: 'snapshot', inject: { kind: 'array', op: 'createSnapshot' }, scope: 'set' },
  { step: 'export', inject: { kind: 'lab', op: 'exportConfiguration' }, scope: 'vm' },
  { step: 'changed-ranges', inject: { kind: 'lab', op: 'changedRanges' }, scope: 'vm', needsPrevious: true },
  { step: 'convert', inject: { kind: 'lab', op: 'convertToReferencePoint' }, scope: 'vm' },
  { step: 'present', inject: { kind: 'array', op: 'present' }, scope: 'set' },
  { step: 'attach', inject: { kind: 'proxy' }, scope: 'set' },
  {
    step: 'copy',
    inject: {
      kind: 'hook',
      hooks: {
        onChunk: ({ index }) => {
          if (index >= 1) throw new Error('injected: the proxy lost the snapshot mid-copy');
        },
      },
    },
    scope: 'vm',
  },
  {
    step: 'commit',
    inject: {
      kind: 'hook',
      hooks: {
        beforeStep: (s) => {
          if (s === 'commit') throw new Error('injected: repository full at commit');
        },
      },
    },
    scope: 'vm',
  },
];

describe('a failure at each step leaves nothing behind and is reported with its step', () => {
  it.each(cases)('$step', async ({ step, inject, scope, needsPrevious }) => {
    env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 4 << 20 });
    let before = { restorePoints: 0, referencePoints: 0 };
    if (needsPrevious) {
      expect((await runBackup(env)).ok).toBe(true);
      before = await leftovers(env);
    }
    let hooks: BackupHooks | undefined;
    if (inject.kind === 'lab') {
      // fail every VM of the set at this step
      await updateLabState(env.labDir, (s) => void s.faults.failures.push({ op: inject.op, times: 2 }));
    } else if (inject.kind === 'array') {
      env.provider = await labProvider.create(
        labProvider.configSchema.parse({ volumesDir: join(env.labDir, 'volumes'), stateDir: join(env.labDir, 'array'), failOn: [inject.op] }),
        { logger: silentLogger },
      );
    } else if (inject.kind === 'proxy') {
      env.proxy = createLocalProxy({ failOn: ['attach'] });
    } else {
      hooks = inject.hooks;
    }

    const report = await runBackup(env, { hooks });

    expect(report.ok).toBe(false);
    for (const v of report.vms) {
      expect(v.status).toBe('failed');
      expect(v.step).toBe(step);
      expect(v.error?.message).toMatch(/injected/);
      expect(v.restorePointId).toBeUndefined();
    }
    if (scope === 'set') expect(report.sets[0].error?.step).toBe(step);
    expect(await leftovers(env)).toEqual({
      checkpoints: 0,
      snapshots: 0,
      presentations: 0,
      restorePoints: before.restorePoints,
      // the reference points of the earlier backup stay: the next incremental still has its anchor
      referencePoints: before.referencePoints,
      journals: 0,
    });
    // no half-written restore point: the repository holds only committed ones
    const repoEntries = await readdir(env.repository.path, { recursive: true });
    expect(repoEntries.filter((p) => /^tmp[/\\]./.test(String(p)))).toEqual([]);
    expect(repoEntries.some((p) => String(p) === 'tmp')).toBe(true); // the place a half-written point would be
  });

  it('one VM failing never costs its neighbour its restore point', async () => {
    env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    await updateLabState(env.labDir, (s) => void s.faults.failures.push({ op: 'exportConfiguration', vm: 'vm-01' }));
    const report = await runBackup(env);
    const [a, b] = report.vms;
    expect(a).toMatchObject({ vm: 'vm-01', status: 'failed', step: 'export' });
    expect(b).toMatchObject({ vm: 'vm-02', status: 'ok' });
    expect(b.restorePointId).toBeDefined();
    const l = await leftovers(env);
    expect(l).toMatchObject({ checkpoints: 0, snapshots: 0, presentations: 0, restorePoints: 1, referencePoints: 1 });
  });

  it('application consistency that fails falls back to crash consistency and says so', async () => {
    env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    await updateLabState(env.labDir, (s) => void s.faults.appConsistencyFails.push('vm-02'));
    const report = await runBackup(env);
    expect(report.ok).toBe(true);
    expect(report.vms.find((v) => v.vm === 'vm-01')).toMatchObject({ consistency: 'application' });
    expect(report.vms.find((v) => v.vm === 'vm-02')).toMatchObject({ consistency: 'crash', fellBack: true });
    const rp = await env.repository.getRestorePoint(report.vms.find((v) => v.vm === 'vm-02')!.restorePointId!);
    expect(rp.consistency).toBe('crash');
    // and without the fallback allowed, that VM fails cleanly
    const strict = await runBackup(env, { policy: { allowCrashConsistent: false } });
    expect(strict.vms.find((v) => v.vm === 'vm-02')).toMatchObject({ status: 'failed', step: 'checkpoint' });
    expect(strict.vms.find((v) => v.vm === 'vm-02')!.error!.code).toBe('app_consistency_failed');
  });

  it('an RCT id the host no longer knows means a full copy, never a wrong incremental', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    expect((await runBackup(env)).ok).toBe(true);
    // change tracking reset (e.g. the VHDX was edited outside Hyper-V)
    await updateLabState(env.labDir, (s) => void (s.vms[0].disks[0].rct.epoch = '00000000-0000-4000-8000-000000000000'));
    const r = await runBackup(env);
    expect(r.ok).toBe(true);
    expect(r.vms[0].disks[0].mode).toBe('full');
    expect(r.vms[0].disks[0].fullReason).toMatch(/RCT id .* not valid/);
  });
});
