import { silentLogger } from '../../src/core/logger.js';
import { runProviderConformance } from '../../providers/conformance/vitest.js';
import { memoryArray } from '../../examples/provider-skeleton/memory-array.js';
import { skeletonProvider } from '../../examples/provider-skeleton/index.js';

runProviderConformance({
  name: 'provider skeleton (in-memory array)',
  create: async () => skeletonProvider.create(skeletonProvider.configSchema.parse({ array: 'skeleton-conf' }), { logger: silentLogger }),
  volumes: async () => ['csv1', 'csv2'].map((n) => ({ kind: 'naa' as const, id: memoryArray('skeleton-conf').addVolume(n).naa })),
  host: { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] },
});
