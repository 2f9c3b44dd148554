import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { chunksTouched } from '../../src/core/ranges.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labPinFrozen, labWrite } from '../../src/lab/index.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import type { Provider } from '../../providers/sdk/provider.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { skipUnless } from '../helpers/requirements.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

/** Counts calls of the real lab array (no fake: every call goes through). */
function counting(provider: Provider) {
  const calls = { createSnapshot: 0, volumesPerSnapshot: [] as number[] };
  const wrapped: Provider = Object.create(provider);
  wrapped.createSnapshot = async (args, opts) => {
    calls.createSnapshot++;
    calls.volumesPerSnapshot.push(args.volumeIds.length);
    return provider.createSnapshot(args, opts);
  };
  return { wrapped, calls };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const noQemu = skipUnless('restores of the lab backup read by qemu-img', { tools: ['qemu-img'] });

describe('offload backup on the lab', () => {
  it('6 VMs on 2 volumes take one array snapshot per volume, and no checkpoint outlives the copy start', async () => {
    env = await makeLabEnv({ vms: 6, volumes: 2, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    const { wrapped, calls } = counting(env.provider);
    env.provider = wrapped;
    const hypervisor = env.hypervisor;
    const checkpointsAtCopy: number[] = [];
    const report = await runBackup(env, {
      hooks: {
        beforeStep: async (step) => {
          if (step === 'present' || step === 'attach' || step === 'copy') {
            checkpointsAtCopy.push((await hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints.length);
          }
        },
      },
    });
    expect(report.ok).toBe(true);
    expect(report.totals.ok).toBe(6);
    expect(calls.createSnapshot).toBe(2);
    expect(report.snapshotSets).toBe(2);
    expect(report.sets.map((s) => s.vms.length).sort()).toEqual([3, 3]);
    expect(checkpointsAtCopy.length).toBeGreaterThanOrEqual(8); // present + attach per set, copy per VM
    expect(checkpointsAtCopy.every((n) => n === 0)).toBe(true);
    // nothing left on the array or the host
    expect(await env.provider.listSnapshots({})).toEqual([]);
    expect(await readdir(join(env.labDir, 'array', 'presentations')).catch(() => [])).toEqual([]);
    const left = await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' });
    expect(left.checkpoints).toEqual([]);
    // one reference point per VM: the anchor of the next incremental
    expect(left.referencePoints).toHaveLength(6);
    for (const v of report.vms) expect(v.checkpointLifetimeMs).toBeGreaterThan(0);
  });

  it('a VM group spanning both volumes is one consistency-group snapshot', async () => {
    env = await makeLabEnv({ vms: 4, volumes: 2, diskSizeBytes: 8 << 20, dataBytes: 2 << 20, groups: { app: ['vm-01', 'vm-02'] } });
    const { wrapped, calls } = counting(env.provider);
    env.provider = wrapped;
    const report = await runBackup(env);
    expect(report.ok).toBe(true);
    // vm-01 (Volume1) and vm-02 (Volume2) tie both volumes into one set
    expect(calls.createSnapshot).toBe(1);
    expect(calls.volumesPerSnapshot).toEqual([2]);
    expect(report.sets[0].consistencyGroup).toBe(true);
  });

  it.skipIf(noQemu)('the incremental reads only the chunks the writes touched, and every restore is byte-identical to its checkpoint', async () => {
    env = await makeLabEnv({ vms: 3, volumes: 1, diskSizeBytes: 32 << 20, dataBytes: 8 << 20 });
    const labDir = env.labDir;
    const frozen = new Map<string, Record<string, string>>();
    const pin = async (cps: Checkpoint[]) => {
      for (const cp of cps) frozen.set(`${cp.vmName}@${cp.name}`, await labPinFrozen(labDir, cp, join(env!.dir, 'frozen')));
    };
    const full = await runBackup(env, { hooks: { onCheckpoints: pin } });
    expect(full.ok).toBe(true);
    expect(full.vms.every((v) => v.disks.every((d) => d.mode === 'full'))).toBe(true);

    const written = await labWrite({ dir: labDir, vm: 'vm-02', count: 12, sizeBytes: 64 << 10, seed: 7 });
    const during: Promise<unknown>[] = [];
    const incr = await runBackup(env, {
      hooks: {
        onCheckpoints: async (cps) => {
          await pin(cps);
          for (const vm of ['vm-01', 'vm-02', 'vm-03']) during.push(labWrite({ dir: labDir, vm, count: 6, sizeBytes: 128 << 10, seed: 9 }));
        },
      },
    });
    await Promise.all(during);
    expect(incr.ok).toBe(true);
    const chunk = env.repository.chunkSize;
    const vm2 = incr.vms.find((v) => v.vm === 'vm-02')!;
    const touched = chunksTouched(written.writes, chunk, 32 << 20).length;
    expect(vm2.disks[0].mode).toBe('incremental');
    expect(vm2.bytesRead).toBeGreaterThan(0);
    expect(vm2.bytesRead).toBeLessThanOrEqual(touched * chunk);
    for (const v of incr.vms.filter((x) => x.vm !== 'vm-02')) {
      expect(v.disks[0].mode).toBe('incremental');
      expect(v.bytesRead).toBe(0); // nothing changed between the checkpoints
    }

    // every restore point, restored, equals the disk as its checkpoint froze it (qemu-img as the independent reader)
    for (const report of [full, incr]) {
      for (const v of report.vms) {
        const restored = await restoreVm({
          repository: env.repository,
          restorePointId: v.restorePointId!,
          targetDir: join(env.dir, 'restored', v.restorePointId!),
          verify: true,
        });
        const pinned = frozen.get(`${v.vm}@hvsnap:${report.jobId}`)!;
        for (const d of restored.disks) {
          expect(d.verified).toBe(true);
          expect(await qemuRawDigest(d.target)).toBe(await qemuRawDigest(pinned[d.diskId]));
        }
      }
    }
    // the writes made during the backup are in the next incremental, not lost
    const third = await runBackup(env);
    expect(third.ok).toBe(true);
    expect(third.vms.every((v) => v.bytesRead > 0)).toBe(true);
  });

  it('checkpoint lifetime does not grow with disk size (64 MiB vs 1 GiB, same data)', async () => {
    const lifetimes: Record<string, number[]> = {};
    for (const size of [64 << 20, 1 << 30]) {
      env = await makeLabEnv({ vms: 3, volumes: 1, diskSizeBytes: size, dataBytes: 8 << 20 });
      const r = await runBackup(env);
      expect(r.ok).toBe(true);
      lifetimes[size] = r.vms.map((v) => v.checkpointLifetimeMs!);
      await env.cleanup();
      env = undefined;
    }
    const small = median(lifetimes[64 << 20]);
    const large = median(lifetimes[1 << 30]);
    console.log(`checkpoint lifetime medians: 64 MiB disks ${small} ms, 1 GiB disks ${large} ms, ratio ${(large / small).toFixed(2)}`);
    // a size-proportional step would make 1 GiB 16x slower; allow noise, not proportionality
    expect(large).toBeLessThan(small * 4 + 250);
  });
});
