import { describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { labWrite } from '../../src/lab/index.js';
import { makeLabEnv } from '../helpers/lab-env.js';

describe('smoke', () => {
  it('full then incremental', async () => {
    const env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 4 << 20 });
    try {
      const r1 = await runBackup(env);
      console.log(JSON.stringify(r1, null, 1));
      expect(r1.ok).toBe(true);
      await labWrite({ dir: env.labDir, vm: 'vm-01', count: 4, sizeBytes: 65536, seed: 3 });
      const r2 = await runBackup(env);
      console.log(JSON.stringify(r2.vms, null, 1));
      expect(r2.ok).toBe(true);
    } finally {
      await env.cleanup();
    }
  });
});
