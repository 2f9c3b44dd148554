import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { pruneRestorePoints } from '../../src/backup/prune.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labPinFrozen, labWrite } from '../../src/lab/index.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { describeWith } from '../helpers/requirements.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describeWith('snapshot-only mode: the retained array snapshot is the restore point', { tools: ['qemu-img'] }, () => {
  it('keeps one snapshot per set, no checkpoint and no reference point; restores through the proxy; prune deletes the snapshot with its last restore point', async () => {
    env = await makeLabEnv({ vms: 4, volumes: 2, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    const labDir = env.labDir;
    const frozen = new Map<string, Record<string, string>>();
    const pin = async (cps: Checkpoint[]) => {
      for (const cp of cps) frozen.set(`${cp.vmName}@${cp.name}`, await labPinFrozen(labDir, cp, join(env!.dir, 'frozen')));
    };
    const first = await runBackup(env, { policy: { mode: 'snapshot-only' }, hooks: { onCheckpoints: pin } });
    expect(first.ok).toBe(true);
    expect(first.totals.bytesRead).toBe(0); // nothing is copied: the array keeps the data
    const left = await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' });
    expect(left).toEqual({ checkpoints: [], referencePoints: [] });
    expect((await env.provider.listSnapshots({ prefix: 'hvsnap-' })).map((s) => s.name).sort()).toEqual(first.sets.map((s) => s.snapshot).sort());
    const manifest = await env.repository.getRestorePoint(first.vms[0].restorePointId!);
    expect(manifest).toMatchObject({ mode: 'snapshot-only', disks: [], arraySnapshots: [{ provider: 'lab', retained: true }] });
    expect(manifest.snapshotDisks).toHaveLength(1);
    expect(manifest.configFiles.length).toBeGreaterThan(0);

    // the guests go on writing; the snapshot still holds the disks as they were
    for (const vm of ['vm-01', 'vm-02', 'vm-03', 'vm-04']) await labWrite({ dir: labDir, vm, count: 8, seed: 4 });
    const second = await runBackup(env, { policy: { mode: 'snapshot-only' } });
    expect(second.ok).toBe(true);
    expect(await env.provider.listSnapshots({ prefix: 'hvsnap-' })).toHaveLength(4);

    for (const v of first.vms) {
      await expect(restoreVm({ repository: env.repository, restorePointId: v.restorePointId!, targetDir: join(env.dir, 'x') })).rejects.toThrow(
        /snapshot-only/,
      );
      const r = await restoreVm({
        repository: env.repository,
        restorePointId: v.restorePointId!,
        targetDir: join(env.dir, 'restored', v.restorePointId!),
        snapshotAccess: { provider: env.provider, proxy: env.proxy, proxyHost: env.proxyHost },
      });
      const pinned = frozen.get(`${v.vm}@hvsnap:${first.jobId}`)!;
      expect(r.disks[0].verified).toBe(true);
      expect(await qemuRawDigest(r.disks[0].target)).toBe(await qemuRawDigest(pinned[r.disks[0].diskId]));
    }
    // the restore's presentation is gone again
    expect(readdirSync(join(labDir, 'array', 'presentations'))).toEqual([]);

    // keep the last restore point per VM: the first job's snapshots go with its restore points
    const dry = await pruneRestorePoints({ repository: env.repository, provider: env.provider, logger: env.logger }, { keepLast: 1, dryRun: true });
    expect(dry.snapshotsDeleted.sort()).toEqual(first.sets.map((s) => s.snapshot).sort());
    expect(await env.provider.listSnapshots({ prefix: 'hvsnap-' })).toHaveLength(4);
    // without the array that keeps them, nothing is deleted: the snapshots would be orphaned
    await expect(pruneRestorePoints({ repository: env.repository, logger: env.logger }, { keepLast: 1 })).rejects.toThrow(/would leave array snapshot/);
    expect((await env.repository.listRestorePoints()).length).toBe(8);
    const pruned = await pruneRestorePoints({ repository: env.repository, provider: env.provider, logger: env.logger }, { keepLast: 1 });
    expect(pruned.retention.deleted).toHaveLength(4);
    expect(pruned.snapshotsDeleted.sort()).toEqual(first.sets.map((s) => s.snapshot).sort());
    expect((await env.provider.listSnapshots({ prefix: 'hvsnap-' })).map((s) => s.name).sort()).toEqual(second.sets.map((s) => s.snapshot).sort());
  });
});
