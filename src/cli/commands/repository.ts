import { Command } from 'commander';
import { HvsnapError } from '../../core/errors.js';
import { pruneWithRetention, restoreWithConfig, RETENTION_FLAGS, withRepository } from '../../job/index.js';
import { recorderFor, withRecordOptions } from '../record.js';
import { formatBytes, parseCount } from '../format.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { renderPrune, renderRestorePoints, renderVerify } from '../render.js';

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
    .option('--repair', 'first rebuild the index from the packs and drop what cannot be healed (lists the restore points affected)', false)
    .action(
      kit.action<{ config?: string; repo?: string; restorePoint?: string; deep: boolean; repair: boolean }>(async ({ opts, logger }) => {
        const { report, repair } = await withRepository({ ...opts, logger }, async (repo) => {
          // repair first (it drops what cannot be healed), then verify what is left
          const repaired = opts.repair ? await repo.repair() : undefined;
          return { report: await repo.verify({ id: opts.restorePoint, deep: opts.deep }), repair: repaired };
        });
        const repaired = repair
          ? `repair: ${repair.packsChecked} pack(s) read, ${repair.packsDropped} dropped, ${repair.indexFilesReplaced} index file(s) replaced, ${repair.chunksDropped} chunk copy(ies) dropped${repair.affected.length ? `; restore points missing chunks until the next backup of their VM: ${repair.affected.map((a) => `${a.restorePointId} (${a.vm}, ${a.missingChunks})`).join(', ')}` : ''}\n`
          : '';
        return { data: { ...report, repair }, text: `${repaired}${renderVerify(report)}`, exitCode: report.ok ? ExitCode.ok : ExitCode.failed };
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
    .option('--keep-monthly <n>', 'months to keep one restore point of')
    .option('--keep-yearly <n>', 'years to keep one restore point of')
    .option('--vm <name>', 'only this VM')
    .option('--dry-run', 'say what would be deleted; delete nothing', false)
    .addHelpText('after', '\nWithout --keep-* flags, the retention: section of --config applies; any --keep-* flag replaces it.')
    .action(
      kit.action<{ config?: string; repo?: string; vm?: string; dryRun: boolean } & Partial<Record<keyof typeof RETENTION_FLAGS, string>>>(async ({ opts, logger, signal }) => {
        const flags = Object.fromEntries(
          Object.entries(RETENTION_FLAGS).map(([key, flag]) => {
            const v = opts[key as keyof typeof RETENTION_FLAGS];
            return [key, v === undefined ? undefined : parseCount(v, flag)];
          }),
        );
        const r = await pruneWithRetention({ repo: opts.repo, config: opts.config, flags, vm: opts.vm, dryRun: opts.dryRun, logger, signal });
        return { data: r, text: renderPrune(r, opts.dryRun), exitCode: r.snapshotFailures.length ? ExitCode.failed : ExitCode.ok };
      }),
    );
