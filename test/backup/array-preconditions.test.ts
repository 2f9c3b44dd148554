import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { providerError } from '../../providers/sdk/errors.js';
import { waitForSnapshotReady } from '../../providers/sdk/snapshot-ready.js';
import type { Provider, SnapshotHandle } from '../../providers/sdk/provider.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe("the array's preconditions and background copies in a backup", () => {
  it("a set the array refuses (a volume in a foreign group) fails before any checkpoint or snapshot exists, with the array's reason", async () => {
    env = await makeLabEnv({ vms: 2, volumes: 2, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    const lab = env.provider;
    let checkpoints = 0;
    const createCheckpoint = env.hypervisor.createCheckpoint.bind(env.hypervisor);
    env.hypervisor.createCheckpoint = (...a) => {
      checkpoints++;
      return createCheckpoint(...a);
    };
    env.provider = {
      ...lab,
      capabilities: lab.capabilities,
      checkSnapshot: async () => {
        throw providerError('wrong_state', 'volume vol-1 is in volume group app (not made by hvsnap): put all volumes of the set in one group', {
          provider: 'lab',
        });
      },
    } as Provider;
    const report = await runBackup(env, {});
    expect(report.ok).toBe(false);
    expect(report.sets.every((s) => s.status === 'failed' && /volume group app/.test(s.error?.message ?? ''))).toBe(true);
    expect(checkpoints).toBe(0);
    expect(await lab.listSnapshots({ prefix: 'hvsnap-' })).toEqual([]);
  });

  it('waits for a background copy, reporting progress, until the array says it is ready', async () => {
    const answers = [0.25, 0.5, 1];
    const progress: number[] = [];
    const provider = {
      name: 'slowcopy',
      snapshotReady: async () => {
        const p = answers.shift()!;
        return { ready: p === 1, progress: p };
      },
    } as unknown as Provider;
    const handle: SnapshotHandle = {
      name: 's',
      id: '1',
      consistencyGroup: false,
      createdAt: new Date(0).toISOString(),
      volumes: [{ volumeId: 'v', snapshotId: 's1' }],
      ready: false,
    };
    await waitForSnapshotReady({ provider, handle, onProgress: (p) => progress.push(p), sleep: async () => undefined });
    expect(progress).toEqual([0.25, 0.5, 1]);
    const never = { name: 'stuck', snapshotReady: async () => ({ ready: false, progress: 0.1 }) } as unknown as Provider;
    let t = 0;
    const e = await waitForSnapshotReady({
      provider: never,
      handle,
      timeoutMs: 50,
      sleep: async (ms) => {
        t += ms;
      },
      intervalMs: 10,
    }).catch((x) => x);
    expect(e.code).toBe('timeout');
    expect(t).toBeGreaterThan(0);
  });
});
