import { Command } from 'commander';
import { runBackup } from '../../backup/backup-job.js';
import { loadJobConfig } from '../config.js';
import { openEnvironment } from '../environment.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { policyFromConfig } from '../policy.js';
import { progressReporter } from '../progress.js';
import { recorderFor, withRecordOptions } from '../record.js';
import { renderBackupReport } from '../render.js';

export const backupCommand: CommandModule = (kit) =>
  withRecordOptions(new Command('backup'))
    .description('back up VMs: recovery checkpoints, one array snapshot per volume set, copy through the proxy')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .option('--vm <name...>', 'VMs to back up (default: the config\'s list, else all)')
    .option('--full', 'ignore reference points: copy every disk in full', false)
    .action(
      kit.action<{ config: string; vm?: string[]; full: boolean; record?: string; anonymize?: boolean }>(async ({ opts, logger, io, signal }) => {
        const config = await loadJobConfig(opts.config);
        const env = await openEnvironment(config, logger, { record: recorderFor('backup', opts) });
        const progress = progressReporter({ stream: io.stderr, logger });
        try {
          const report = await runBackup(env, {
            vms: opts.vm ?? config.vms,
            policy: policyFromConfig(config, opts.full),
            signal,
            onProgress: (e) => progress.update(`${e.vm} ${e.disk}`, e.doneBytes, e.totalBytes),
          });
          progress.end();
          return { data: report, text: renderBackupReport(report), exitCode: report.ok ? ExitCode.ok : ExitCode.partial };
        } finally {
          await env.close();
        }
      }),
    );
