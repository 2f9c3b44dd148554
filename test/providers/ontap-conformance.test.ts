import { afterAll } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { ontapProvider } from '../../providers/ontap/index.js';
import { runProviderConformance } from '../../providers/conformance/vitest.js';
import { ontapIdentityFromSerial } from '../../providers/sdk/disk-identity.js';
import { FakeOntap } from './fake-ontap.js';

const fake = new FakeOntap('https://ontap-conf.test', 'hvsnap', 'ontap-password-5678');
afterAll(() => fake.close());

runProviderConformance({
  name: 'ontap (nock)',
  create: async () =>
    ontapProvider.create(
      ontapProvider.configSchema.parse({
        endpoint: fake.origin,
        username: fake.username,
        password: fake.password,
        svm: 'svm1',
        jobPollMs: 1,
        retry: { minDelayMs: 1, maxDelayMs: 2 },
      }),
      { logger: silentLogger },
    ),
  volumes: async () => ['csv1', 'csv2', 'csv3'].map((n) => ontapIdentityFromSerial(fake.addLun(n))),
  host: { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] },
  // a host spelling its WWPNs one way; the suite presents again with the other spelling
  fcHost: { name: 'proxy-fc1', wwns: ['10:00:00:00:c9:12:34:56'] },
});
