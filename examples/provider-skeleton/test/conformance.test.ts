import { runProviderConformance } from 'hvsnap/conformance/vitest';
import { silentLogger } from 'hvsnap/sdk';
import skeletonProvider from '../src/index.js';
import { memoryArray } from '../src/memory-array.js';

// The same suite hvsnap runs against its own drivers: every case your capabilities declare.
runProviderConformance({
  name: 'provider skeleton (in-memory array)',
  create: async () => skeletonProvider.create(skeletonProvider.configSchema.parse({ array: 'skeleton-conf' }), { logger: silentLogger }),
  volumes: async () => ['csv1', 'csv2', 'csv3'].map((n) => ({ kind: 'naa' as const, id: memoryArray('skeleton-conf').addVolume(n).naa })),
  host: { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] },
});
