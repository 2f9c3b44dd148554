import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJobConfig } from '../../src/job/config.js';
import { openEnvironment } from '../../src/job/environment.js';
import { snapshotAccessOf } from '../../src/job/run-job.js';
import { silentLogger } from '../../src/core/logger.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'hvsnap-env-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('openEnvironment', () => {
  it('creates a lab on first use with disks of 2 GiB and more (no 32-bit overflow)', async () => {
    const cfg = parseJobConfig(
      {
        hypervisor: { kind: 'lab', dir: './lab', init: { vms: 1, volumes: 1, diskSizeMiB: 4096, dataMiB: 0 } },
        provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array' } },
        proxy: { kind: 'local', host: { name: 'p' } },
        repository: { path: './repo' },
      },
      join(dir, 'job.yaml'),
    );
    const env = await openEnvironment(cfg, silentLogger);
    try {
      const [vm] = await env.hypervisor.listVms({});
      expect(vm.disks[0].sizeBytes).toBe(4 * 2 ** 30);
    } finally {
      await env.close();
    }
  });
});

describe('snapshotAccessOf', () => {
  it("gives a restore or an export from a kept array snapshot the job's proxy.keepHost (default false)", async () => {
    const cfg = (proxy: Record<string, unknown>) =>
      parseJobConfig(
        {
          hypervisor: { kind: 'lab', dir: './lab', init: { vms: 1, volumes: 1, diskSizeMiB: 8, dataMiB: 1 } },
          provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array' } },
          proxy: { kind: 'local', host: { name: 'p' }, ...proxy },
          repository: { path: './repo' },
        },
        join(dir, 'job.yaml'),
      );
    const kept = cfg({ keepHost: true });
    const env = await openEnvironment(kept, silentLogger);
    try {
      expect(snapshotAccessOf(env, kept)).toMatchObject({ provider: env.provider, proxy: env.proxy, proxyHost: { name: 'p' }, keepHost: true });
      expect(snapshotAccessOf(env, cfg({})).keepHost).toBe(false);
    } finally {
      await env.close();
    }
  });
});
