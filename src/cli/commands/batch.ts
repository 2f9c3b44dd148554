import { resolve } from 'node:path';
import { Command } from 'commander';
import { backupDryRun, batchThenPrune } from '../../job/index.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { progressReporter } from '../progress.js';
import { renderBackupReport, renderDryRun, renderPrune } from '../render.js';

export const batchCommand: CommandModule = (kit) =>
  new Command('batch')
    .description("the nightly batch on a proxy host: the config's batch selection, with its concurrency limits; resumable")
    .requiredOption('-c, --config <file>', 'job configuration (YAML) with a batch section')
    .option(
      '--resume <batchId>',
      'continue a batch that died or was interrupted: undo its leftovers, then back up every VM without a restore point from it (not started, interrupted, and failed VMs are retried); the report covers both runs',
    )
    .option('--dry-run', 'say which VMs the batch selects, their volume sets and copy modes; touch nothing', false)
    .action(
      kit.action<{ config: string; resume?: string; dryRun: boolean }>(async ({ opts, logger, io, signal }) => {
        if (opts.dryRun) {
          const plan = await backupDryRun({ config: opts.config, batch: true, logger, signal });
          return { data: plan, text: renderDryRun(plan) };
        }
        const progress = progressReporter({ stream: io.stderr, logger });
        const report = await batchThenPrune({
          config: opts.config,
          resume: opts.resume,
          logger,
          signal,
          onProgress: (e) => progress.update(`${e.vm} ${e.disk}`, e.doneBytes, e.totalBytes, `${e.vm} ${e.diskName ?? e.disk}`),
        });
        progress.end();
        const text = [
          `batch ${report.batchId}${report.resumed ? ` (resumed; ${report.skipped.length} VM(s) were already done)` : ''}`,
          renderBackupReport(report),
          ...(report.prune ? ['prune (retention.afterBatch):', renderPrune(report.prune, false)] : []),
          ...(report.pruneError
            ? [`prune after the batch FAILED: ${String(report.pruneError.message)}`, 'next: run `hvsnap prune --config FILE` once the cause is fixed']
            : []),
        ].join('\n');
        if (report.status !== 'interrupted')
          return { data: report, text, exitCode: !report.ok ? ExitCode.partial : report.pruneError ? ExitCode.failed : ExitCode.ok };
        // the last line a person sees: how to go on
        const resume = `hvsnap batch --config ${quoteArg(resolve(opts.config))} --resume ${report.batchId}`;
        return {
          data: { ...report, resumeCommand: resume },
          text: `${text}\ninterrupted: batch ${report.batchId}; to finish it run:\n${resume}`,
          exitCode: ExitCode.interrupted,
        };
      }),
    );

/** A shell word for a path: as is when plain, else single-quoted. */
function quoteArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
