import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createWmiHypervisor, WmiHypervisor } from '../hyperv/index.js';
import { sftpHostMounts } from './host-mounts.js';
import { createLab, openLab } from '../lab/index.js';
import { openRepository } from '../repository/index.js';
import type { BackupEnvironment } from '../backup/types.js';
import { loadProvider } from '../../providers/index.js';
import { createLinuxProxy, createLocalProxy, createWindowsProxy, linuxProxyConfigSchema, windowsProxyConfigSchema, type Proxy } from '../../proxy/index.js';
import { configError } from '../core/config-error.js';
import type { JobConfig } from './config.js';
import { createShell, type TranscriptRecorder, type TransportConfig } from '../transport/index.js';

/**
 * The composition root: builds the seams a job configuration names. Nothing here decides
 * anything about a backup; it only creates, and closes, what the library needs.
 */
export async function openEnvironment(
  config: JobConfig,
  logger: Logger,
  opts: { record?: TranscriptRecorder } = {},
): Promise<BackupEnvironment & { close(): Promise<void> }> {
  const closers: Array<() => Promise<void>> = [];
  try {
    // every part is validated before anything is made: the provider and the proxy check their
    // configuration without I/O, so a typo there is found before a lab or a repository is created
    const provider = await loadProvider({ provider: config.provider.name, config: config.provider.config, logger, configFile: config.file });
    closers.push(async () => provider.close?.());
    const proxy = await createProxy(config, logger);
    const hypervisor = await createHypervisor(config, logger, { record: opts.record });
    closers.push(async () => hypervisor.close?.());
    const repository = await openRepository({ path: config.repository.path, create: config.repository.create, chunkSize: config.repository.chunkSize, logger });
    closers.push(() => repository.close());
    return {
      hypervisor,
      // host mode reads over each node's own SSH connection
      ...(hypervisor instanceof WmiHypervisor && { hostMounts: sftpHostMounts((host) => hypervisor.shellOf(host)) }),
      provider,
      proxy,
      proxyHost: config.proxy.host,
      repository,
      logger,
      close: async () => {
        for (const c of closers.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (e) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    throw e;
  }
}

/** The hypervisor a configuration names; `create: false` never creates a lab (doctor only reads). */
export async function createHypervisor(config: JobConfig, logger: Logger, opts: { create?: boolean; record?: TranscriptRecorder } = {}): Promise<Hypervisor> {
  const h = config.hypervisor;
  if (h.kind === 'lab') {
    if (opts.create !== false && h.init && !existsSync(join(h.dir, 'lab.json'))) {
      await createLab({
        dir: h.dir,
        vms: h.init.vms,
        volumes: h.init.volumes,
        diskSizeBytes: h.init.diskSizeMiB * 2 ** 20,
        dataBytes: h.init.dataMiB * 2 ** 20,
      });
      logger.info({ dir: h.dir }, 'lab created');
    }
    return openLab(h.dir, { logger });
  }
  if (h.kind === 'wmi')
    return createWmiHypervisor(h as unknown as Parameters<typeof createWmiHypervisor>[0], {
      logger,
      file: config.file,
      baseDir: dirname(config.file),
      record: opts.record,
    });
  throw new HvsnapError('config_invalid', `${config.file}: hypervisor.kind "${(h as { kind: string }).kind}" is not available in this build`, {
    context: { file: config.file, field: 'hypervisor.kind' },
  });
}

async function createProxy(config: JobConfig, logger: Logger): Promise<Proxy> {
  if (config.proxy.kind === 'local') return createLocalProxy({ logger });
  if (config.proxy.kind === 'linux') {
    const parsed = linuxProxyConfigSchema.safeParse(config.proxy.config);
    if (!parsed.success) throw configError(parsed.error, { file: config.file, prefix: 'proxy.config' });
    return createLinuxProxy(parsed.data, { logger });
  }
  if (config.proxy.kind === 'windows') {
    const parsed = windowsProxyConfigSchema.safeParse(config.proxy.config);
    if (!parsed.success) throw configError(parsed.error, { file: config.file, prefix: 'proxy.config' });
    // the data mover reads the mounted snapshot in this process: hvsnap runs on the Windows proxy itself
    if (process.platform !== 'win32') {
      throw new HvsnapError(
        'config_invalid',
        `${config.file}: proxy.kind "windows" needs hvsnap to run on the Windows proxy host (this is ${process.platform}); use proxy.kind "linux" here`,
        { context: { file: config.file, field: 'proxy.kind' } },
      );
    }
    return createWindowsProxy(parsed.data, {
      shell: createShell({ kind: 'local', executable: 'powershell.exe' } as TransportConfig, { address: 'localhost' }, { logger }),
      logger,
    });
  }
  throw new HvsnapError('config_invalid', `${config.file}: proxy.kind "${config.proxy.kind as string}" is not available in this build`, {
    context: { file: config.file, field: 'proxy.kind' },
  });
}
