import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { VmInfo } from '../core/types.js';
import { selectVms } from '../backup/batch.js';
import { planSets } from '../backup/host-plan.js';
import type { Provider } from '../../providers/sdk/provider.js';
import { loadProvider } from '../../providers/index.js';
import { openRepository, type Repository } from '../repository/index.js';
import { createHypervisor } from './environment.js';
import { readsOverSftp } from './host-mounts.js';
import { WmiHypervisor } from '../hyperv/index.js';
import { resolveJobConfig, type JobConfigSource } from './run-job.js';

/** What `backup --dry-run` or `batch --dry-run` would do. */
export interface DryRunReport {
  dryRun: true;
  /** things the real run would create first (the lab, the repository) */
  notes: string[];
  /** one array snapshot per `array` set; a `host` set's VMs are read over SFTP from their nodes (host mode) */
  sets: Array<{ index: number; mode: 'array' | 'host'; vms: string[]; volumes: string[]; groups: string[] }>;
  vms: Array<{ vm: string; set: number; mode: 'full' | 'incremental' | 'snapshot-only'; reason: string; disks: number }>;
  /** VMs no set can hold: the real run reports each as failed */
  unplaced: Array<{ vm: string; error: string }>;
}

/**
 * Plans a backup (or the configured batch) without touching anything: reads the host's VMs and
 * where their disks live, groups them into volume sets (one array snapshot each) and says, per
 * VM, whether its disks would be copied in full or incrementally and why. The plan is the real
 * run's (`planSets`): `policy.mode: host` makes every VM (or VM group) a host-mode set, and with
 * `policy.hostFallback` the array is asked, read-only, which volumes it owns. Creates no lab, no
 * repository, no checkpoint, snapshot, host or presentation; never contacts the proxy.
 */
export async function backupDryRun(args: {
  config: JobConfigSource;
  vms?: string[];
  full?: boolean;
  batch?: boolean;
  logger: Logger;
  signal?: AbortSignal;
}): Promise<DryRunReport> {
  const config = await resolveJobConfig(args.config);
  const report: DryRunReport = { dryRun: true, notes: [], sets: [], vms: [], unplaced: [] };
  const h = config.hypervisor;
  if (h.kind === 'lab' && !existsSync(join(h.dir, 'lab.json'))) {
    report.notes.push(
      h.init
        ? `the lab ${h.dir} does not exist yet: the backup creates it (hypervisor.init), then backs up all its VMs in full`
        : `the lab ${h.dir} does not exist and hypervisor.init is not set: the backup would fail`,
    );
    return report;
  }
  const signal = args.signal;
  const hypervisor = await createHypervisor(config, args.logger, { create: false });
  let repository: Repository | undefined;
  let provider: Provider | undefined;
  try {
    repository = await openRepository({ path: config.repository.path, create: false, logger: args.logger }).catch(() => undefined);
    if (!repository)
      report.notes.push(
        `no repository in ${config.repository.path} yet: the backup ${config.repository.create ? 'creates it, and copies every VM in full' : 'would fail (repository.create is false)'}`,
      );
    const all = await hypervisor.listVms({}, { signal });
    const groups = await hypervisor.listVmGroups({}, { signal });
    let vms: VmInfo[];
    if (args.batch) vms = selectVms(all, groups, config.batch?.select ?? {});
    else {
      const names = args.vms ?? config.vms;
      vms = names?.length ? await hypervisor.listVms({ names }, { signal }) : all;
    }
    const policy = { mode: config.policy.mode ?? 'offload', hostFallback: config.policy.hostFallback ?? false };
    if (policy.mode !== 'host' && policy.hostFallback) {
      // which sets fall back to host mode is the array's answer (resolveVolumes reads, never writes)
      provider = await loadProvider({ provider: config.provider.name, config: config.provider.config, logger: args.logger, configFile: config.file });
      report.notes.push('policy.hostFallback: the array was asked (read only) which volumes it owns; sets on volumes it does not own are read in host mode');
    }
    const plan = await planSets({ hypervisor, provider, vms, groups, allVms: all, policy }, { signal });
    report.unplaced = plan.unplaced.map((u) => ({ vm: u.vm.name, error: u.error.message }));
    const snapshotOnly = config.policy.mode === 'snapshot-only';
    for (const set of plan.sets) {
      report.sets.push({
        index: set.index,
        mode: set.mode ?? 'array',
        vms: set.vms.map((v) => v.name),
        volumes: set.volumes.map((v) => v.identity.id),
        groups: set.groups,
      });
      for (const vm of set.vms) {
        if (set.mode === 'host' && !(hypervisor instanceof WmiHypervisor && readsOverSftp(hypervisor.shellOf(vm.host)))) {
          report.unplaced.push({
            vm: vm.name,
            error: `host mode reads ${vm.host}'s files over SFTP, and this configuration has no SSH transport to it (hypervisor.transport.kind ssh)`,
          });
          continue;
        }
        const [mode, reason] =
          snapshotOnly && set.mode !== 'host'
            ? (['snapshot-only', 'policy.mode is snapshot-only: the array snapshot is kept as the restore point'] as const)
            : await copyMode(vm, repository, hypervisor, !!(args.full || config.policy.forceFull), signal);
        report.vms.push({ vm: vm.name, set: set.index, mode, reason, disks: vm.disks.length });
      }
    }
    return report;
  } finally {
    await repository?.close();
    await provider?.close?.();
    await hypervisor.close?.();
  }
}

/** The decision backup-set's readChanges makes, at VM level (a new or resized disk is still copied in full). */
async function copyMode(
  vm: VmInfo,
  repository: Repository | undefined,
  hypervisor: Awaited<ReturnType<typeof createHypervisor>>,
  forceFull: boolean,
  signal?: AbortSignal,
): Promise<['full' | 'incremental', string]> {
  const previous = await repository?.latestRestorePoint(vm.id);
  if (!previous?.referencePointId) return ['full', 'no earlier restore point with a reference point'];
  const rps = await hypervisor.listReferencePoints({ vmId: vm.id }, { signal });
  if (!rps.some((rp) => rp.id === previous.referencePointId)) return ['full', `reference point ${previous.referencePointId} no longer exists on the host`];
  if (forceFull) return ['full', 'a full backup was asked for'];
  return ['incremental', `changes since restore point ${previous.id} (RCT)`];
}
