import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import type { InstantHost } from '../hyperv/instant-host.js';
import { LabHypervisor } from '../lab/index.js';
import { LabInstantHost } from '../lab/lab-instant-host.js';
import type { InstantEnv } from '../restore/instant/instant-restore.js';
import type { JobConfig } from './config.js';
import { openEnvironment } from './environment.js';

/** The host side of instant restore for the hypervisor the job names, or undefined where there is none yet. */
export function instantHostOf(hypervisor: Hypervisor): InstantHost | undefined {
  return hypervisor instanceof LabHypervisor ? new LabInstantHost(hypervisor.dir) : undefined;
}

/** The composition root for instant restore: the job's environment plus the host side of the hypervisor it names. */
export async function openInstantEnvironment(config: JobConfig, logger: Logger): Promise<InstantEnv & { close(): Promise<void> }> {
  const env = await openEnvironment(config, logger);
  const host = instantHostOf(env.hypervisor);
  if (!host) {
    await env.close();
    throw new HvsnapError('unsupported', `${config.file}: instant restore runs on the lab host in this build; hypervisor.kind "${env.hypervisor.kind}" has no instant-restore host yet`, {
      context: { file: config.file, field: 'hypervisor.kind' },
      hint: 'restore with "hvsnap restore" (a copy) or "hvsnap mount" instead',
    });
  }
  return { ...env, host };
}
