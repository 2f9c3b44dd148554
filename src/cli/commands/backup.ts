import { Command } from 'commander';
import { backupDryRun, backupWithConfig } from '../../job/index.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { progressReporter } from '../progress.js';
import { recorderFor, withRecordOptions } from '../record.js';
import { renderBackupReport, renderDryRun } from '../render.js';

export const backupCommand: CommandModule = (kit) =>
  withRecordOptions(new Command('backup'))
    .description('back up VMs: recovery checkpoints, one array snapshot per volume set, copy through the proxy')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .option('--vm <name...>', "VMs to back up (default: the config's list, else all)")
    .option('--full', 'ignore reference points: copy every disk in full', false)
    .option('--dry-run', 'say which VMs, volume sets and copy modes the backup would use; touch nothing', false)
    .action(
      kit.action<{ config: string; vm?: string[]; full: boolean; dryRun: boolean; record?: string; anonymize?: boolean }>(
        async ({ opts, logger, io, signal }) => {
          if (opts.dryRun) {
            const plan = await backupDryRun({ config: opts.config, vms: opts.vm, full: opts.full, logger, signal });
            return { data: plan, text: renderDryRun(plan) };
          }
          const progress = progressReporter({ stream: io.stderr, logger });
          const report = await backupWithConfig({
            config: opts.config,
            vms: opts.vm,
            full: opts.full,
            logger,
            signal,
            record: recorderFor('backup', opts),
            onProgress: (e) => progress.update(`${e.vm} ${e.disk}`, e.doneBytes, e.totalBytes, `${e.vm} ${e.diskName ?? e.disk}`),
          });
          progress.end();
          return {
            data: report,
            text: renderBackupReport(report),
            exitCode: report.status === 'interrupted' ? ExitCode.interrupted : report.ok ? ExitCode.ok : ExitCode.partial,
          };
        },
      ),
    );
