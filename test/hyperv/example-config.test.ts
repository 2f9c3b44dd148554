import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadJobConfig } from '../../src/job/config.js';
import { parseWmiHypervisorConfig, wmiHypervisorConfigSchema } from '../../src/hyperv/config.js';
import { packageRoot } from '../../src/hyperv/script-loader.js';

describe('examples/hyperv.yaml', () => {
  it('is a valid job configuration whose hypervisor section the WMI schema accepts, apart from the placeholders', async () => {
    process.env.HVSNAP_ARRAY_TOKEN = 'token-from-the-environment'; // the example reads its array token from there
    const cfg = await loadJobConfig(path.join(packageRoot(), 'examples', 'hyperv.yaml'));
    expect(cfg.provider.config.apiToken).toBe('token-from-the-environment');
    expect(cfg.hypervisor.kind).toBe('wmi');
    // the fingerprints are placeholders of the right shape, so the file parses as it is
    const wmi = parseWmiHypervisorConfig(cfg.hypervisor);
    expect(wmi.nodes.map((n) => n.name)).toEqual(['HV01', 'HV02']);
    expect(wmi.transport).toMatchObject({ kind: 'ssh', username: 'CORP\\svc-hvsnap', acceptUnknownHostKey: false });
    expect(wmiHypervisorConfigSchema.safeParse({ ...cfg.hypervisor, surprise: 1 }).success).toBe(false);
  });
});
