import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJobConfig } from '../../src/job/config.js';
import { openEnvironment } from '../../src/job/environment.js';
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
