import { Command } from 'commander';
import { runDemo } from '../../demo/run-demo.js';
import { formatBytes, formatMs, parseCount, parseSize } from '../format.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';
import { progressReporter } from '../progress.js';
import { renderBackupReport } from '../render.js';

export const demoCommand: CommandModule = (kit) =>
  new Command('demo')
    .description('build a lab, run a full and an incremental backup with writes during it, restore and verify')
    .option('--dir <dir>', 'folder for the lab and repository (default: a new temporary folder, removed at the end)')
    .option('--keep', 'keep the folder at the end (the default with --dir; a failed demo always keeps it)')
    .option('--vms <n>', 'number of VMs', '6')
    .option('--volumes <n>', 'number of volumes (CSVs)', '2')
    .option('--disk-size <size>', 'virtual size of each disk', '64MiB')
    .option('--data <size>', 'data written into each disk', '16MiB')
    .action(
      kit.action<{ dir?: string; keep?: boolean; vms: string; volumes: string; diskSize: string; data: string }>(async ({ opts, logger, io, signal }) => {
        const progress = progressReporter({ stream: io.stderr, logger });
        const r = await runDemo({
          dir: opts.dir,
          keep: opts.keep,
          vms: parseCount(opts.vms, '--vms', 1),
          volumes: parseCount(opts.volumes, '--volumes', 1),
          diskSizeBytes: parseSize(opts.diskSize, '--disk-size'),
          dataBytes: parseSize(opts.data, '--data'),
          logger,
          signal,
          onProgress: (e) => progress.update(`${e.vm}`, e.doneBytes, e.totalBytes),
        });
        progress.end();
        const lifetimes = [...r.full.vms, ...r.incremental.vms].map((v) => v.checkpointLifetimeMs ?? 0).sort((a, b) => a - b);
        const text = [
          `hvsnap demo in ${r.dir}`,
          '',
          '1. full backup',
          renderBackupReport(r.full),
          '',
          `2. ${r.writesBetween} guest writes, then an incremental backup while ${r.writesDuring} more writes landed`,
          renderBackupReport(r.incremental),
          '',
          '3. restore and verify',
          ...r.restores.map(
            (x) =>
              `  ${x.vm}  ${x.restorePointId}: ${x.identical ? 'byte-identical to the disk at its checkpoint' : 'DIFFERS'}${x.verified ? ', index verified' : ''}`,
          ),
          '',
          `checkpoints lived ${formatMs(lifetimes[0] ?? 0)} to ${formatMs(lifetimes[lifetimes.length - 1] ?? 0)} (median ${formatMs(lifetimes[Math.floor(lifetimes.length / 2)] ?? 0)}), none while a byte was copied`,
          `the incremental read ${formatBytes(r.incremental.totals.bytesRead)} from the snapshots (the chunks that ${r.writesBetween} writes of 64 KiB touched), the full ${formatBytes(r.full.totals.bytesRead)}`,
          r.kept
            ? `the lab, repository and restores are in ${r.dir} (remove it when done: rm -r ${r.dir})`
            : `its folder ${r.dir} was removed (--keep keeps it)`,
          r.ok ? 'demo: OK' : 'demo: FAILED\nnext: look at the report above and the lab folder; run it again with --debug for the logs',
        ].join('\n');
        return { data: r, text, exitCode: r.ok ? ExitCode.ok : ExitCode.failed };
      }),
    );
