import { Command } from 'commander';
import type { HostCheck } from '../../hyperv/check-host.js';
import { ExitCode } from '../io.js';
import { runDoctor } from '../../job/index.js';
import type { CommandModule } from '../program.js';

/** Renders checks one per line: `ok`, `WARN` or `FAIL`, the name, and what was seen. */
export function renderChecks(checks: HostCheck[]): string {
  const width = Math.max(...checks.map((c) => c.name.length), 10);
  return checks.map((c) => `${c.ok ? (c.warning ? 'WARN' : 'ok  ') : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`).join('\n');
}

export const doctorCommand: CommandModule = (kit) =>
  new Command('doctor')
    .description('check everything a backup with this configuration needs: hosts, array, proxy, repository')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .action(
      kit.action<{ config: string }>(async ({ opts, logger, signal, io }) => {
        const checks = await runDoctor(opts.config, { logger, signal, env: io.env });
        const failed = checks.filter((c) => !c.ok).length;
        const text = `${renderChecks(checks)}\n${failed ? `${failed} check(s) failed` : 'all checks passed'}`;
        return { data: { checks }, text, exitCode: failed ? ExitCode.failed : ExitCode.ok };
      }),
    );
