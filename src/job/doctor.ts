import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { errorSummary } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkHyperVHost, type HostCheck } from '../hyperv/check-host.js';
import { createWmiNodes, parseWmiHypervisorConfig } from '../hyperv/config.js';
import { openLab } from '../lab/index.js';
import { openRepository } from '../repository/index.js';
import { loadProvider } from '../../providers/index.js';
import type { VolumeIdentity } from '../core/types.js';
import type { TranscriptRecorder } from '../transport/recording-shell.js';
import type { JobConfig } from './config.js';
import { createHypervisor } from './environment.js';
import { checkSftp } from './sftp-check.js';
import { resolveJobConfig, type JobConfigSource } from './run-job.js';

const run = promisify(execFile);

/**
 * `hvsnap doctor`: every check a backup with this configuration depends on, each reported on its
 * own (a failing one does not hide the others): the Hyper-V hosts, the array (reachable,
 * authenticated, and owning the volumes the VMs' disks are on), the proxy, the repository.
 * Reads only: creates nothing on the host, the array or the repository.
 */
export async function runDoctor(
  source: JobConfigSource,
  opts: { logger: Logger; signal?: AbortSignal; env?: Record<string, string | undefined>; record?: TranscriptRecorder },
): Promise<HostCheck[]> {
  const cfg = await resolveJobConfig(source);
  const checks: HostCheck[] = [];
  const attempt = async (name: string, fn: () => Promise<string | HostCheck[]>) => {
    try {
      const r = await fn();
      if (typeof r === 'string') checks.push({ name, ok: true, detail: r });
      else checks.push(...r);
    } catch (e) {
      checks.push({ name, ok: false, detail: String(errorSummary(e).message) });
    }
  };
  await attempt('hypervisor', () => doctorHostChecks(cfg, opts));
  // before the first backup a lab with `init` does not exist yet: the backup creates it, so that is not a failure
  const labToCreate = cfg.hypervisor.kind === 'lab' && !!cfg.hypervisor.init && !existsSync(join(cfg.hypervisor.dir, 'lab.json'));
  if (labToCreate) {
    checks.push({
      name: 'lab host',
      ok: true,
      warning: true,
      detail: `${cfg.hypervisor.dir}: no lab yet; it will be created on the first backup (hypervisor.init)`,
    });
  } else if (cfg.hypervisor.kind === 'lab') {
    const dir = cfg.hypervisor.dir;
    await attempt('lab host', async () => `${(await openLab(dir).listVms({})).length} VMs in ${dir}`);
  }
  await attempt('array', async () => {
    const provider = await loadProvider({ provider: cfg.provider.name, config: cfg.provider.config, logger: opts.logger, configFile: cfg.file });
    try {
      const p = await provider.probe({}, { signal: opts.signal });
      const caps = provider.capabilities;
      return `${provider.name}: ${p.vendor}${p.model ? ` ${p.model}` : ''}${p.version ? ` ${p.version}` : ''}; consistency groups ${caps.consistencyGroups ? 'yes' : 'no'}, presentation ${caps.presentation}`;
    } finally {
      await provider.close?.();
    }
  });
  // the disk-to-LUN mapping end to end, whatever the hypervisor and the array: every disk's volume must be a volume of the
  // configured array. On real hosts only for the VMs the job names, as the host check does (listing a cluster's every VM is slow).
  if ((cfg.hypervisor.kind === 'lab' && !labToCreate) || (cfg.hypervisor.kind !== 'lab' && cfg.vms?.length))
    await attempt('disk-to-volume mapping', async () => {
      const host = await createHypervisor(cfg, opts.logger, { create: false });
      const provider = await loadProvider({ provider: cfg.provider.name, config: cfg.provider.config, logger: opts.logger, configFile: cfg.file });
      try {
        const vms = await host.listVms(cfg.vms ? { names: cfg.vms } : {}, { signal: opts.signal });
        const ids = new Map<string, { identity: VolumeIdentity; root: string }>();
        for (const vm of vms) {
          for (const d of vm.disks) {
            const loc = await host.resolveVolume({ path: d.path }, { signal: opts.signal });
            ids.set(loc.identity.id, { identity: loc.identity, root: loc.volumeRoot });
          }
        }
        const volumes = await provider.resolveVolumes({ identities: [...ids.values()].map((v) => v.identity) }, { signal: opts.signal });
        return `${vms.length} VMs on ${volumes.length} array volume(s): ${[...ids.values()].map((v, i) => `${v.root} = ${volumes[i].name}`).join(', ')}`;
      } finally {
        await provider.close?.();
        await host.close?.();
      }
    });
  await attempt('proxy', async () => {
    if (cfg.proxy.kind === 'local') return 'local: reads presented folders of the lab array';
    if (cfg.proxy.kind === 'windows') {
      if (process.platform !== 'win32') throw new Error(`proxy.kind windows needs hvsnap to run on the Windows proxy host (this is ${process.platform})`);
      return 'windows: this host';
    }
    if (process.getuid?.() !== 0) throw new Error('the linux proxy attaches LUNs and mounts them: run as root');
    const missing: string[] = [];
    for (const cmd of ['losetup', 'blockdev', 'sfdisk', 'ntfs-3g', 'umount']) {
      await run('sh', ['-c', `command -v ${cmd}`]).catch(() => missing.push(cmd));
    }
    if (missing.length) throw new Error(`missing commands: ${missing.join(', ')} (Debian: util-linux, fdisk, ntfs-3g)`);
    return `linux: root, ${['losetup', 'blockdev', 'sfdisk', 'ntfs-3g'].join(', ')} present`;
  });
  await attempt('repository', async () => {
    const repo = await openRepository({ path: cfg.repository.path, logger: opts.logger });
    try {
      return `${cfg.repository.path}: ${(await repo.listRestorePoints()).length} restore point(s), ${repo.chunkSize}-byte chunks`;
    } finally {
      await repo.close();
    }
  }).then(() => {
    const last = checks[checks.length - 1];
    // a repository that does not exist yet is made by the first backup (repository.create): a warning, not a failure
    if (!last.ok && cfg.repository.create && /not an hvsnap repository|not a repository|does not exist|no such/i.test(last.detail))
      Object.assign(last, { ok: true, warning: true, detail: `${last.detail} (the first backup creates it)` });
  });
  return checks;
}

/**
 * The host part of `hvsnap doctor`: every Hyper-V node of the job config (reachable, authenticated,
 * rights, Hyper-V version, VM configuration versions, disk-to-volume mapping of the job's VMs).
 * `runDoctor` adds the array, proxy and repository checks.
 */
export async function doctorHostChecks(
  cfg: JobConfig,
  opts: { logger: Logger; signal?: AbortSignal; env?: Record<string, string | undefined>; record?: TranscriptRecorder },
): Promise<HostCheck[]> {
  if (cfg.hypervisor.kind !== 'wmi') {
    return [{ name: 'hypervisor', ok: true, detail: `${cfg.hypervisor.kind}: a simulated host, nothing to probe` }];
  }
  const wmi = parseWmiHypervisorConfig(cfg.hypervisor, { file: cfg.file, baseDir: dirname(cfg.file) });
  const nodes = createWmiNodes(wmi, { logger: opts.logger, env: opts.env, record: opts.record });
  try {
    const checks = await checkHyperVHost({ nodes, vmNames: cfg.vms }, { signal: opts.signal, logger: opts.logger });
    return [...checks, ...(await checkSftp(nodes, { signal: opts.signal }))];
  } finally {
    await Promise.all(nodes.map((n) => n.shell.close().catch(() => undefined)));
  }
}
