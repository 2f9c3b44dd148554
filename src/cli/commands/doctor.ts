import { dirname } from 'node:path';
import { Command } from 'commander';
import { checkHyperVHost, type HostCheck } from '../../hyperv/check-host.js';
import { createWmiNodes, parseWmiHypervisorConfig } from '../../hyperv/config.js';
import { loadJobConfig, type JobConfig } from '../config.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import type { Logger } from '../../core/logger.js';

/**
 * The host part of `hvsnap doctor`: every Hyper-V node of the job config (reachable, authenticated,
 * rights, Hyper-V version, VM configuration versions, disk-to-volume mapping of the job's VMs).
 * Array and proxy probes are added beside it.
 */
export async function doctorHostChecks(cfg: JobConfig, opts: { logger: Logger; signal?: AbortSignal; env?: Record<string, string | undefined> }): Promise<HostCheck[]> {
  if (cfg.hypervisor.kind !== 'wmi') {
    return [{ name: 'hypervisor', ok: true, detail: `${cfg.hypervisor.kind}: a simulated host, nothing to probe` }];
  }
  const wmi = parseWmiHypervisorConfig(cfg.hypervisor, { file: cfg.file, baseDir: dirname(cfg.file) });
  const nodes = createWmiNodes(wmi, { logger: opts.logger, env: opts.env });
  try {
    return await checkHyperVHost({ nodes, vmNames: cfg.vms }, { signal: opts.signal, logger: opts.logger });
  } finally {
    await Promise.all(nodes.map((n) => n.shell.close().catch(() => undefined)));
  }
}

/** Renders checks one per line: `ok`, `WARN` or `FAIL`, the name, and what was seen. */
export function renderChecks(checks: HostCheck[]): string {
  const width = Math.max(...checks.map((c) => c.name.length), 10);
  return checks.map((c) => `${c.ok ? (c.warning ? 'WARN' : 'ok  ') : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`).join('\n');
}

export const doctorCommand: CommandModule = (kit) =>
  new Command('doctor')
    .description('check that the Hyper-V hosts of a job configuration are reachable and ready for backups')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .action(
      kit.action<{ config: string }>(async ({ opts, logger, signal, io }) => {
        const cfg = await loadJobConfig(opts.config);
        const checks = await doctorHostChecks(cfg, { logger, signal, env: io.env });
        const failed = checks.filter((c) => !c.ok).length;
        const text = `${renderChecks(checks)}\n${failed ? `${failed} check(s) failed` : 'all checks passed'}`;
        return { data: { checks }, text, exitCode: failed ? ExitCode.failed : ExitCode.ok };
      }),
    );
