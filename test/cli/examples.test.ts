import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromEnvironment, loadJobConfig } from '../../src/job/config.js';
import { parseWmiHypervisorConfig } from '../../src/hyperv/index.js';
import { findProviderDefinition } from '../../providers/index.js';
import { linuxProxyConfigSchema } from '../../proxy/linux/index.js';
import { windowsProxyConfigSchema } from '../../proxy/windows/index.js';

const examples = join(import.meta.dirname, '..', '..', 'examples');

describe('every example configuration is valid as shipped', async () => {
  const files = (await readdir(examples)).filter((f) => f.endsWith('.yaml'));
  it('there are examples to check', () => expect(files.length).toBeGreaterThanOrEqual(3));
  it.each(files)('%s', async (file) => {
    process.env.HVSNAP_ARRAY_TOKEN = 'token-from-the-environment'; // hyperv.yaml takes its array token from here
    const cfg = await loadJobConfig(join(examples, file));
    if (cfg.hypervisor.kind === 'wmi') expect(() => parseWmiHypervisorConfig(cfg.hypervisor as never, { file: cfg.file })).not.toThrow();
    const def = await findProviderDefinition(cfg.provider.name, cfg.file);
    const parsed = def.configSchema.safeParse(cfg.provider.config);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    if (cfg.proxy.kind === 'linux') expect(linuxProxyConfigSchema.safeParse(cfg.proxy.config).success).toBe(true);
    if (cfg.proxy.kind === 'windows') expect(windowsProxyConfigSchema.safeParse(cfg.proxy.config).success).toBe(true);
  });
});

describe('secrets come from the environment, not the file', () => {
  it('${env:NAME} is replaced; a missing variable names the field and the variable, never a value', () => {
    const env = { ARRAY_TOKEN: 's3cr3t-value' };
    expect(
      fromEnvironment({ endpoint: 'https://fa1', apiToken: '${env:ARRAY_TOKEN}', list: ['${env:ARRAY_TOKEN}'] }, 'provider.config', 'job.yaml', env),
    ).toEqual({
      endpoint: 'https://fa1',
      apiToken: 's3cr3t-value',
      list: ['s3cr3t-value'],
    });
    expect(() => fromEnvironment({ password: '${env:NOPE}' }, 'provider.config', 'job.yaml', env)).toThrow(
      'job.yaml: provider.config.password names environment variable NOPE, which is not set',
    );
    expect(fromEnvironment('a ${env:ARRAY_TOKEN} inside text stays text', 'f', 'job.yaml', env)).toBe('a ${env:ARRAY_TOKEN} inside text stays text');
  });
});
