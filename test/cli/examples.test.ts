import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadJobConfig } from '../../src/cli/config.js';
import { parseWmiHypervisorConfig } from '../../src/hyperv/index.js';
import { findProviderDefinition } from '../../providers/index.js';
import { linuxProxyConfigSchema } from '../../proxy/linux/index.js';
import { windowsProxyConfigSchema } from '../../proxy/windows/index.js';

const examples = join(import.meta.dirname, '..', '..', 'examples');

describe('every example configuration is valid as shipped', async () => {
  const files = (await readdir(examples)).filter((f) => f.endsWith('.yaml'));
  it('there are examples to check', () => expect(files.length).toBeGreaterThanOrEqual(3));
  it.each(files)('%s', async (file) => {
    const cfg = await loadJobConfig(join(examples, file));
    if (cfg.hypervisor.kind === 'wmi') expect(() => parseWmiHypervisorConfig(cfg.hypervisor as never, { file: cfg.file })).not.toThrow();
    const def = await findProviderDefinition(cfg.provider.name, cfg.file);
    const parsed = def.configSchema.safeParse(cfg.provider.config);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    if (cfg.proxy.kind === 'linux') expect(linuxProxyConfigSchema.safeParse(cfg.proxy.config).success).toBe(true);
    if (cfg.proxy.kind === 'windows') expect(windowsProxyConfigSchema.safeParse(cfg.proxy.config).success).toBe(true);
  });
});
