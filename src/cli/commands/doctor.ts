import { Command } from 'commander';
import type { HostCheck } from '../../hyperv/check-host.js';
import { ExitCode } from '../io.js';
import { loadJobConfig, runDoctor } from '../../job/index.js';
import type { CommandModule } from '../program.js';
import { captureCommand, recorderFor, withRecordOptions } from '../record.js';

/** Renders checks one per line: `ok`, `WARN` or `FAIL`, the name, and what was seen. */
export function renderChecks(checks: HostCheck[]): string {
  const width = Math.max(...checks.map((c) => c.name.length), 10);
  return checks.map((c) => `${c.ok ? (c.warning ? 'WARN' : 'ok  ') : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`).join('\n');
}

export const doctorCommand: CommandModule = (kit) =>
  withRecordOptions(new Command('doctor'))
    .description('check everything a backup with this configuration needs: hosts, array, proxy, repository')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .action(
      kit.action<{ config: string; record?: string; anonymize?: boolean }>(async ({ opts, logger, signal, io }) => {
        const cfg = await loadJobConfig(opts.config);
        const record = recorderFor('doctor', opts);
        const checks = await runDoctor(cfg, { logger, signal, env: io.env, record });
        const failed = checks.filter((c) => !c.ok).length;
        const share =
          cfg.hypervisor.kind !== 'wmi'
            ? undefined
            : record
              ? `transcript written to ${record.writer.file}`
              : `to capture a transcript of these hosts to share: ${captureCommand(opts.config)}`;
        const next = failed
          ? `${failed} check(s) failed\nnext: fix what the FAIL lines name (README: "Hyper-V host set-up"), then run hvsnap doctor again`
          : 'all checks passed';
        const text = `${renderChecks(checks)}\n${next}${share ? `\n${share}` : ''}`;
        return { data: { checks, ...(record ? { transcript: record.writer.file } : {}) }, text, exitCode: failed ? ExitCode.failed : ExitCode.ok };
      }),
    );
