import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createLabVolume, labProvider } from '../../providers/lab/index.js';
import { runProviderConformance } from '../../providers/conformance/vitest.js';

const root = mkdtempSync(join(tmpdir(), 'hvsnap-lab-conf-'));
const volumesDir = join(root, 'volumes');
const stateDir = join(root, 'state');
afterAll(() => rmSync(root, { recursive: true, force: true }));

runProviderConformance({
  name: 'lab',
  create: async () => labProvider.create(labProvider.configSchema.parse({ volumesDir, stateDir }), { logger: silentLogger }),
  volumes: async () => {
    mkdirSync(stateDir, { recursive: true });
    const out = [];
    for (const name of ['csv1', 'csv2']) {
      const marker = await createLabVolume({ volumesDir, name });
      writeFileSync(join(volumesDir, name, 'disk.vhdx'), 'not really a disk');
      out.push(marker.identity);
    }
    return out;
  },
  host: { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] },
});
