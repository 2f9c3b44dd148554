import { Command } from 'commander';
import { HvsnapError } from '../../core/errors.js';
import { pruneWithRetention, restoreWithConfig, RETENTION_FLAGS, withRepository } from '../../job/index.js';
import { recorderFor, withRecordOptions } from '../record.js';
import { formatBytes, parseCount } from '../format.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { progressReporter } from '../progress.js';
import { renderPrune, renderRepair, renderRestorePoints, renderVerify } from '../render.js';
import { runExport } from './export.js';
import { runInstantRestore } from './instant.js';

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
      kit.action<{ config?: string; repo?: string; restorePoint?: string; deep: boolean; repair: boolean }>(async ({ opts, logger, io }) => {
        const progress = progressReporter({ stream: io.stderr, logger });
        const { report, repair } = await withRepository({ ...opts, logger }, async (repo) => {
          // repair first (it drops what cannot be healed), then verify what is left
          const repaired = opts.repair ? await repo.repair() : undefined;
          const verified = await repo.verify({ id: opts.restorePoint, deep: opts.deep, onProgress: (p) => progress.update(p.disk, p.doneBytes, p.totalBytes) });
          return { report: verified, repair: repaired };
        });
        progress.end();
        const repaired = repair ? `${renderRepair(repair)}\n` : '';
        return { data: { ...report, repair }, text: `${repaired}${renderVerify(report)}`, exitCode: report.ok ? ExitCode.ok : ExitCode.failed };
      }),
    );

export const restoreCommand: CommandModule = (kit) =>
  withRecordOptions(new Command('restore'))
    .description(
      "rebuild a restore point in Hyper-V's export layout and verify it (as `export`); with --import put the disks in --to and import the VM; with --instant run it from an array clone",
    )
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .requiredOption('--restore-point <id>', 'restore point id (see "hvsnap list")')
    .option('--to <dir>', 'export folder (the VM gets <dir>/<VM name>/); with --import, the folder for the disks')
    .option('--import', 'import the VM on the host after the disks are in place', false)
    .option('--host-dir <path>', 'how the host sees --to (with --import)')
    .option('--new-id', 'import with a new VM id (beside the original)', false)
    .option('--name <name>', 'name of the imported VM')
    .option('--instant', 'instant restore (snapshot-only restore points): run the VM from an array clone on --host', false)
    .option('--host <node>', 'with --instant: the Hyper-V host to present the clone to and import on')
    .option('--start', 'with --instant: start the VM', false)
    .option('--verify', 'read each restored disk back and check it against the restore point (its chunks are checked as they are read anyway)', false)
    .action(
      kit.action<{
        config: string;
        restorePoint: string;
        to?: string;
        import: boolean;
        hostDir?: string;
        newId: boolean;
        name?: string;
        instant: boolean;
        host?: string;
        start: boolean;
        verify: boolean;
        record?: string;
        anonymize?: boolean;
      }>(async ({ opts, logger, io, signal }) => {
        if (opts.instant) {
          if (!opts.host)
            throw new HvsnapError('input_invalid', '--instant needs --host (the Hyper-V host to run the VM on)', { context: { field: '--host' } });
          // --new-id forces a new id; without it, a new id only when the original VM still exists
          return runInstantRestore(
            { config: opts.config, restorePoint: opts.restorePoint, host: opts.host, newId: opts.newId || undefined, name: opts.name, start: opts.start },
            logger,
            signal,
          );
        }
        if (!opts.to) throw new HvsnapError('input_invalid', 'restore needs --to (or --instant --host)', { context: { field: '--to' } });
        if (opts.import && !opts.hostDir)
          throw new HvsnapError('input_invalid', '--import needs --host-dir (how the host sees the --to folder)', { context: { field: '--host-dir' } });
        // without an import, the same layout as `hvsnap export`: Import-VM takes it by hand
        if (!opts.import) return runExport({ config: opts.config, restorePoint: opts.restorePoint, to: opts.to, verify: opts.verify }, { logger, io, signal });
        const progress = progressReporter({ stream: io.stderr, logger });
        const onProgress = (p: { disk: string; doneBytes: number; totalBytes: number }) => progress.update(p.disk, p.doneBytes, p.totalBytes);
        const r = await restoreWithConfig({
          config: opts.config,
          restorePointId: opts.restorePoint,
          targetDir: opts.to,
          verify: opts.verify,
          import: { hostDir: opts.hostDir!, newId: opts.newId, name: opts.name },
          logger,
          signal,
          record: recorderFor('restore', opts),
          onProgress,
        });
        progress.end();
        const text = [
          `restored ${r.vm} from ${r.restorePointId}:`,
          ...r.disks.map((d) => `  ${d.target}  ${formatBytes(d.virtualSize)}  ${d.sha256 ? `sha256 ${d.sha256}  verified` : ''}`),
          ...(r.imported ? [`imported as VM ${r.imported.name} (${r.imported.id})`] : []),
        ].join('\n');
        return { data: r, text };
      }),
    );

export const retentionCommand: CommandModule = (kit) =>
  withRepo(
    new Command('prune').description('apply a retention policy: delete restore points (and the array snapshots only they kept), then unreferenced chunks'),
  )
    .option('--keep-last <n>', 'restore points to keep per VM')
    .option('--keep-daily <n>', 'days to keep one restore point of')
    .option('--keep-weekly <n>', 'weeks to keep one restore point of')
    .option('--keep-monthly <n>', 'months to keep one restore point of')
    .option('--keep-yearly <n>', 'years to keep one restore point of')
    .option('--vm <name>', 'only this VM')
    .option('--dry-run', 'say what would be deleted; delete nothing', false)
    .addHelpText('after', '\nWithout --keep-* flags, the retention: section of --config applies; any --keep-* flag replaces it.')
    .action(
      kit.action<{ config?: string; repo?: string; vm?: string; dryRun: boolean } & Partial<Record<keyof typeof RETENTION_FLAGS, string>>>(
        async ({ opts, logger, signal }) => {
          const flags = Object.fromEntries(
            Object.entries(RETENTION_FLAGS).map(([key, flag]) => {
              const v = opts[key as keyof typeof RETENTION_FLAGS];
              return [key, v === undefined ? undefined : parseCount(v, flag)];
            }),
          );
          const r = await pruneWithRetention({ repo: opts.repo, config: opts.config, flags, vm: opts.vm, dryRun: opts.dryRun, logger, signal });
          return { data: r, text: renderPrune(r, opts.dryRun), exitCode: r.snapshotFailures.length ? ExitCode.failed : ExitCode.ok };
        },
      ),
    );
