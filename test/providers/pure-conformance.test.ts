import { afterAll } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { pureProvider } from '../../providers/pure/index.js';
import { runProviderConformance } from '../../providers/conformance/vitest.js';
import { pureIdentityFromSerial } from '../../providers/sdk/disk-identity.js';
import { FakePure } from './fake-pure.js';

const fake = new FakePure('https://pure-conf.test', 'pure-api-token-1234');
afterAll(() => fake.close());

runProviderConformance({
  name: 'pure (nock)',
  create: async () =>
    pureProvider.create(pureProvider.configSchema.parse({ endpoint: fake.origin, apiToken: fake.apiToken, retry: { minDelayMs: 1, maxDelayMs: 2 } }), {
      logger: silentLogger,
    }),
  volumes: async () => ['csv1', 'csv2', 'csv3'].map((n) => pureIdentityFromSerial(fake.addVolume(n))),
  host: { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] },
  // a host spelling its WWPNs one way; the suite presents again with the other spelling
  fcHost: { name: 'proxy-fc1', wwns: ['10:00:00:00:c9:12:34:56'] },
});
