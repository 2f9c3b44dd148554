import { afterAll } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { powerstoreProvider } from '../../providers/powerstore/index.js';
import { runProviderConformance } from '../../providers/conformance/vitest.js';
import { powerstoreIdentityFromWwn } from '../../providers/sdk/disk-identity.js';
import { FakePowerstore } from './fake-powerstore.js';

const fake = new FakePowerstore('https://powerstore-conf.test', 'hvsnap', 'powerstore-password-9012');
afterAll(() => fake.close());

runProviderConformance({
  name: 'powerstore (nock)',
  create: async () =>
    powerstoreProvider.create(
      powerstoreProvider.configSchema.parse({
        endpoint: fake.origin,
        username: fake.username,
        password: fake.password,
        retry: { minDelayMs: 1, maxDelayMs: 2 },
      }),
      { logger: silentLogger },
    ),
  volumes: async () => ['csv1', 'csv2', 'csv3'].map((n) => powerstoreIdentityFromWwn(fake.addVolume(n))),
  host: { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] },
  // a host spelling its WWPNs one way; the suite presents again with the other spelling
  fcHost: { name: 'proxy-fc1', wwns: ['10:00:00:00:c9:12:34:56'] },
  // a customer's volume group, made on the array behind hvsnap's back
  foreignGroup: async (volumeIds) => {
    const remove = fake.addVolumeGroup('app-group', volumeIds);
    return async () => remove();
  },
});
