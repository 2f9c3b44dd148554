import { Command } from 'commander';
import { HvsnapError } from '../../core/errors.js';
import { pruneWithConfig, restoreWithConfig, withRepository } from '../../job/index.js';
import { recorderFor, withRecordOptions } from '../record.js';
import { formatBytes, parseCount } from '../format.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { renderRestorePoints } from '../render.js';

const withRepo = (c: Command) => c.option('-c, --config <file>', 'job configuration (YAML)').option('--repo <path>', 'repository folder');

export const listCommand: CommandModule = (kit) =>
  withRepo(new Command('list').description('list restore points'))
    .option('--vm <name>', 'only this VM (name or id)')
    .action(
      kit.action<{ config?: string; repo?: string; vm?: string }>(async ({ opts, logger }) => {
        const points = await withRepository({ ...opts, logger }, (repo) => repo.listRestorePoints({ vm: opts.vm }));
        return { data: points, text: renderRestorePoints(points) };
      }),
    );

export const verifyCommand: CommandModule = (kit) =>
  withRepo(new Command('verify').description('check that every chunk a restore point needs is present (--deep: and re-hash it)'))
    .option('--restore-point <id>', 'only this restore point')
    .option('--deep', 're-hash every chunk', false)
    .action(
      kit.action<{ config?: string; repo?: string; restorePoint?: string; deep: boolean }>(async ({ opts, logger }) => {
        const report = await withRepository({ ...opts, logger }, (repo) => repo.verify({ id: opts.restorePoint, deep: opts.deep }));
        const problems = (report as { problems?: unknown[] }).problems ?? [];
        return {
          data: report,
          text: problems.length ? `verify found ${problems.length} problem(s):\n${problems.map((p) => `  ${JSON.stringify(p)}`).join('\n')}` : `verify: OK (${JSON.stringify(report)})`,
          exitCode: problems.length ? ExitCode.failed : ExitCode.ok,
        };
      }),
    );

export const restoreCommand: CommandModule = (kit) =>
  withRecordOptions(new Command('restore'))
    .description('rebuild the disks of a restore point as VHDX files, verify them, optionally import the VM')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .requiredOption('--restore-point <id>', 'restore point id (see "hvsnap list")')
    .requiredOption('--to <dir>', 'local folder for the restored disks')
    .option('--import', 'import the VM on the host after the disks are in place', false)
    .option('--host-dir <path>', 'how the host sees --to (with --import)')
    .option('--new-id', 'import with a new VM id (beside the original)', false)
    .option('--name <name>', 'name of the imported VM')
    .action(
      kit.action<{ config: string; restorePoint: string; to: string; import: boolean; hostDir?: string; newId: boolean; name?: string; record?: string; anonymize?: boolean }>(async ({ opts, logger, signal }) => {
        if (opts.import && !opts.hostDir) throw new HvsnapError('input_invalid', '--import needs --host-dir (how the host sees the --to folder)', { context: { field: '--host-dir' } });
        const r = await restoreWithConfig({
          config: opts.config,
          restorePointId: opts.restorePoint,
          targetDir: opts.to,
          import: opts.import ? { hostDir: opts.hostDir!, newId: opts.newId, name: opts.name } : undefined,
          logger,
          signal,
          record: recorderFor('restore', opts),
        });
        const text = [
          `restored ${r.vm} from ${r.restorePointId}:`,
          ...r.disks.map((d) => `  ${d.target}  ${formatBytes(d.virtualSize)}  sha256 ${d.sha256}${d.verified ? '  verified' : ''}`),
          ...(r.imported ? [`imported as VM ${r.imported.name} (${r.imported.id})`] : []),
        ].join('\n');
        return { data: r, text };
      }),
    );

export const retentionCommand: CommandModule = (kit) =>
  withRepo(new Command('prune').description('apply a retention policy: delete restore points (and the array snapshots only they kept), then unreferenced chunks'))
    .option('--keep-last <n>', 'restore points to keep per VM')
    .option('--keep-daily <n>', 'days to keep one restore point of')
    .option('--keep-weekly <n>', 'weeks to keep one restore point of')
    .option('--vm <name>', 'only this VM')
    .option('--dry-run', 'say what would be deleted', false)
    .action(
      kit.action<{ config?: string; repo?: string; keepLast?: string; keepDaily?: string; keepWeekly?: string; vm?: string; dryRun: boolean }>(async ({ opts, logger, signal }) => {
        const policy = {
          keepLast: opts.keepLast ? parseCount(opts.keepLast, '--keep-last') : undefined,
          keepDaily: opts.keepDaily ? parseCount(opts.keepDaily, '--keep-daily') : undefined,
          keepWeekly: opts.keepWeekly ? parseCount(opts.keepWeekly, '--keep-weekly') : undefined,
        };
        const r = await pruneWithConfig({ repo: opts.repo, config: opts.config, logger, signal, policy: { ...policy, vm: opts.vm, dryRun: opts.dryRun } });
        const text = [
          `${opts.dryRun ? 'would delete' : 'deleted'} ${r.retention.deleted.length} restore point(s), kept ${r.retention.kept.length}`,
          ...r.retention.deleted.map((d) => `  - ${d.id} (${d.vmName}, ${d.createdAt})`),
          ...(r.snapshotsDeleted.length ? [`${opts.dryRun ? 'would delete' : 'deleted'} array snapshot(s): ${r.snapshotsDeleted.join(', ')}`] : []),
          ...r.snapshotFailures.map((f) => `  could not delete array snapshot ${f.name}: ${String(f.error.message)}`),
          ...(r.gc ? [`gc: ${r.gc.chunksDeleted} chunks, ${formatBytes(r.gc.bytesFreed)} freed`] : []),
        ].join('\n');
        return { data: r, text, exitCode: r.snapshotFailures.length ? ExitCode.failed : ExitCode.ok };
      }),
    );
