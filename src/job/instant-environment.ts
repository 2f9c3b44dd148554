import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import type { InstantHost } from '../hyperv/instant-host.js';
import { LabHypervisor } from '../lab/index.js';
import { LabInstantHost } from '../lab/lab-instant-host.js';
import { WmiHypervisor } from '../hyperv/wmi-hypervisor.js';
import { WmiInstantHost } from '../hyperv/wmi-instant-host.js';
import type { InstantEnv } from '../restore/instant/instant-restore.js';
import type { JobConfig } from './config.js';
import { openEnvironment } from './environment.js';

/**
 * The host side of instant restore for the hypervisor the job names: the lab host, or a WMI node
 * by its computer name. Undefined for a hypervisor that has none.
 */
export function instantHostsOf(hypervisor: Hypervisor): ((node: string) => InstantHost) | undefined {
  if (hypervisor instanceof LabHypervisor) {
    const lab = new LabInstantHost(hypervisor.dir);
    return () => lab;
  }
  if (hypervisor instanceof WmiHypervisor) {
    return (name) => {
      const node = hypervisor.node(name);
      if (!node)
        throw new HvsnapError('input_invalid', `--host ${name} is not a node of the job's hypervisor configuration`, {
          context: { host: name, field: '--host' },
        });
      return new WmiInstantHost(node);
    };
  }
  return undefined;
}

/**
 * What tells one array from another for instant restore (InstantEnv.arrayKey): a digest of the
 * job's provider section. Two jobs that reach one array through different settings get different
 * keys: they then do not share a host object an instant restore made. At worst that leaves the host
 * on the array; it never removes one on a guess.
 */
export function arrayKeyOf(config: Pick<JobConfig, 'provider'>): string {
  return createHash('sha256')
    .update(canonicalJson([config.provider.name, config.provider.config]))
    .digest('hex')
    .slice(0, 32);
}

/** The composition root for instant restore: the job's environment plus the host side of the hypervisor it names. */
export async function openInstantEnvironment(config: JobConfig, logger: Logger): Promise<InstantEnv & { close(): Promise<void> }> {
  const env = await openEnvironment(config, logger);
  const hostFor = instantHostsOf(env.hypervisor);
  if (!hostFor) {
    await env.close();
    throw new HvsnapError('unsupported', `${config.file}: hypervisor.kind "${env.hypervisor.kind}" has no instant-restore host side`, {
      context: { file: config.file, field: 'hypervisor.kind' },
      hint: 'restore with "hvsnap restore" (a copy) or "hvsnap mount" instead',
    });
  }
  return { ...env, hostFor, arrayKey: arrayKeyOf(config) };
}
