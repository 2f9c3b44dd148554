import { afterEach, describe, expect, it } from 'vitest';
import { runBatch, batchSpecSchema } from '../../src/backup/batch.js';
import type { Hypervisor } from '../../src/hyperv/hypervisor.js';
import type { Provider } from '../../providers/sdk/provider.js';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { killJournalOwners, killLeaseOwners } from '../helpers/dead-job.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

/** Measures, outside the limiters, how many calls of the real seams run at once. */
function gauge<T extends object>(target: T, methods: string[], keyOf: (args: any) => string = () => 'all') {
  const now = new Map<string, number>();
  const peak = new Map<string, number>();
  const wrapped = Object.create(target) as T;
  for (const m of methods) {
    const original = (target as any)[m].bind(target);
    (wrapped as any)[m] = async (args: unknown, opts: unknown) => {
      const k = keyOf(args);
      now.set(k, (now.get(k) ?? 0) + 1);
      peak.set(k, Math.max(peak.get(k) ?? 0, now.get(k)!));
      try {
        return await original(args, opts);
      } finally {
        now.set(k, now.get(k)! - 1);
      }
    };
  }
  return { wrapped, peak };
}

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/**
 * A full garbage collection: the heap then holds only what is live. Without one, heapUsed also counts
 * garbage not yet collected, which depends on when V8 ran its collector: under a loaded CI machine the
 * 200-VM batch measured +46 MiB against +26-29 MiB on an idle one, and failed the bound.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** The peak of live heap (after a full collection, every 100 ms) while `fn` runs, over the live heap before it. */
async function heapPeakDuring<T>(fn: () => Promise<T>): Promise<{ result: T; peakBytes: number }> {
  const live = () => {
    collectGarbage();
    return process.memoryUsage().heapUsed;
  };
  const base = live();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, live())), 100);
  try {
    const result = await fn();
    return { result, peakBytes: peak - base };
  } finally {
    clearInterval(timer);
  }
}

describe('batch', () => {
  it('200 VMs on 10 volumes: 10 snapshot sets, limits held, memory flat in the number of VMs', async () => {
    const limits = { sets: 3, perHost: 4, perArray: 2, perProxy: 3 };
    const peaks: Record<number, number> = {};
    for (const n of [20, 200]) {
      env = await makeLabEnv({ vms: n, volumes: 10, diskSizeBytes: 2 << 20, dataBytes: 1 << 20 });
      const array = gauge<Provider>(env.provider, ['createSnapshot', 'present', 'unpresent', 'deleteSnapshot', 'resolveVolumes']);
      const host = gauge<Hypervisor>(env.hypervisor, ['createCheckpoint', 'exportConfiguration', 'convertToReferencePoint'], () => 'lab-host-1');
      env.provider = array.wrapped;
      env.hypervisor = host.wrapped;
      let copying = 0;
      let copyPeak = 0;
      const { result: report, peakBytes } = await heapPeakDuring(() =>
        runBatch(env!, batchSpecSchema.parse({ limits }), {
          hooks: {
            beforeStep: (step) => {
              if (step === 'copy') copyPeak = Math.max(copyPeak, ++copying);
              if (step === 'commit') copying--;
            },
          },
        }),
      );
      expect(report.ok).toBe(true);
      expect(report.totals.ok).toBe(n);
      expect(report.snapshotSets).toBe(10);
      expect(Math.max(...array.peak.values())).toBeLessThanOrEqual(limits.perArray);
      expect(Math.max(...host.peak.values())).toBeLessThanOrEqual(limits.perHost);
      expect(copyPeak).toBeLessThanOrEqual(limits.perProxy);
      expect(report.concurrency!.sets).toBeLessThanOrEqual(limits.sets);
      // the limits are reached, not just respected: work really ran in parallel
      expect(Math.max(...host.peak.values())).toBeGreaterThan(1);
      peaks[n] = peakBytes;
      console.log(
        `batch of ${n} VMs: ${report.snapshotSets} snapshot sets, peaks host ${Math.max(...host.peak.values())} array ${Math.max(...array.peak.values())} copies ${copyPeak} sets ${report.concurrency!.sets}, heap peak +${(peakBytes / 2 ** 20).toFixed(1)} MiB, ${report.durationMs} ms`,
      );
      await env.cleanup();
      env = undefined;
    }
    // 10x the VMs must not mean 10x the memory: buffers are bounded by the limits, not by the VM count
    expect(peaks[200]).toBeLessThan(peaks[20] * 3 + (8 << 20));
  }, 180_000);

  it('a batch that died resumes: its leftovers are undone and only the VMs without a restore point run', async () => {
    env = await makeLabEnv({ vms: 6, volumes: 2, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
    const spec = batchSpecSchema.parse({ select: { patterns: ['vm-*'] }, limits: { sets: 1 } });
    // the process "dies" in the middle of the second set's copy: it never returns, nothing of it is compensated
    let died!: () => void;
    const dead = new Promise<void>((r) => (died = r));
    void runBatch(env, spec, {
      hooks: {
        onChunk: ({ vm }) => {
          if (vm !== 'vm-02' && vm !== 'vm-04' && vm !== 'vm-06') return;
          died();
          return new Promise<void>(() => {});
        },
      },
    });
    await dead;
    const done = (await env.repository.listRestorePoints()).map((p) => p.vm.name).sort();
    expect(done).toEqual(['vm-01', 'vm-03', 'vm-05']);
    expect(await env.provider.listSnapshots({})).toHaveLength(1); // the second set's, mid-copy
    const batchId = (await env.repository.listRestorePoints())[0].jobId;
    // it still "runs": its lease names it
    await expect(runBatch(env, spec, { resume: batchId })).rejects.toMatchObject({
      code: 'locked',
      message: expect.stringContaining(`batch ${batchId} is already running`),
    });
    await killJournalOwners(join(env.repository.path, '.journal'));
    await killLeaseOwners(env.repository.path);

    const resumed = await runBatch(env, spec, { resume: batchId });
    expect(resumed.ok).toBe(true);
    expect(resumed.skipped.sort()).toEqual(done);
    // the report covers both runs; only the unfinished VMs ran again, each VM has one restore point
    expect(resumed.vms.map((v) => v.vm).sort()).toEqual(['vm-01', 'vm-02', 'vm-03', 'vm-04', 'vm-05', 'vm-06']);
    expect(resumed.totals).toMatchObject({ vms: 6, ok: 6, failed: 0 });
    const points = await env.repository.listRestorePoints();
    expect(
      points
        .filter((p) => p.jobId === resumed.jobId)
        .map((p) => p.vm.name)
        .sort(),
    ).toEqual(['vm-02', 'vm-04', 'vm-06']);
    expect(points.map((p) => p.vm.name).sort()).toEqual(['vm-01', 'vm-02', 'vm-03', 'vm-04', 'vm-05', 'vm-06']);
    expect((await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints).toEqual([]);
    expect(await env.provider.listSnapshots({})).toEqual([]); // the dead run's snapshot was replayed away
    await expect(runBatch(env, spec, { resume: 'no-such-batch' })).rejects.toThrow(/nothing to resume/);
  });

  it('selects by pattern, group and host, and names what matches nothing', async () => {
    env = await makeLabEnv({ vms: 4, volumes: 2, diskSizeBytes: 2 << 20, dataBytes: 1 << 20, groups: { web: ['vm-03'] } });
    const r = await runBatch(env, batchSpecSchema.parse({ select: { patterns: ['VM-0?'], groups: ['web'] } }));
    const g = await runBatch(env, batchSpecSchema.parse({ select: { groups: ['web'], names: ['vm-01'] } }));
    expect(g.vms.map((v) => v.vm).sort()).toEqual(['vm-01', 'vm-03']);
    const h = await runBatch(env, batchSpecSchema.parse({ select: { hosts: ['LAB-HOST-1'] } }));
    expect(h.vms).toHaveLength(4);
    expect(r.vms.map((v) => v.vm).sort()).toEqual(['vm-01', 'vm-02', 'vm-03', 'vm-04']);
    await expect(runBatch(env, batchSpecSchema.parse({ select: { groups: ['nope'] } }))).rejects.toThrow(/group "nope"/);
    await expect(runBatch(env, batchSpecSchema.parse({ select: { names: ['vm-99'] } }))).rejects.toThrow(/vm-99/);
  });
});
