import { Command } from 'commander';
import { runBackupJob } from '../../backup/job-control.js';
import { loadJobConfig } from '../config.js';
import { openEnvironment } from '../environment.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { policyFromConfig } from '../policy.js';
import { progressReporter } from '../progress.js';
import { renderBackupReport } from '../render.js';

export const backupCommand: CommandModule = (kit) =>
  new Command('backup')
    .description('back up VMs: recovery checkpoints, one array snapshot per volume set, copy through the proxy')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .option('--vm <name...>', 'VMs to back up (default: the config\'s list, else all)')
    .option('--full', 'ignore reference points: copy every disk in full', false)
    .action(
      kit.action<{ config: string; vm?: string[]; full: boolean }>(async ({ opts, logger, io, signal }) => {
        const config = await loadJobConfig(opts.config);
        const env = await openEnvironment(config, logger);
        const progress = progressReporter({ stream: io.stderr, logger });
        try {
          const report = await runBackupJob(env, {
            configFile: config.file,
            vms: opts.vm ?? config.vms,
            policy: policyFromConfig(config, opts.full),
            signal,
            onProgress: (e) => progress.update(`${e.vm} ${e.disk}`, e.doneBytes, e.totalBytes),
          });
          progress.end();
          return { data: report, text: renderBackupReport(report), exitCode: report.status === 'interrupted' ? ExitCode.interrupted : report.ok ? ExitCode.ok : ExitCode.partial };
        } finally {
          await env.close();
        }
      }),
    );
