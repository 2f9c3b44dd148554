import { Command } from 'commander';
import { mountWithConfig } from '../../job/index.js';
import { unmountRestorePoint } from '../../restore/mount/mount-table.js';
import type { CommandModule } from '../program.js';

export const mountCommand: CommandModule = (kit) =>
  new Command('mount')
    .description(
      'serve a restore point read-only through FUSE: per disk a VHDX and a raw image, made from the chunks on demand (--files: NTFS volumes too); runs until Ctrl-C or "hvsnap umount DIR"',
    )
    .argument('<dir>', 'an empty folder to mount on')
    .requiredOption('--restore-point <id>', 'restore point id (see "hvsnap list")')
    .option('-c, --config <file>', 'job configuration (YAML)')
    .option('--repo <path>', 'repository folder')
    .option('--files', 'also mount each NTFS partition read-only with ntfs-3g (root)', false)
    .action(
      kit.action<{ restorePoint: string; config?: string; repo?: string; files: boolean }>(async ({ opts, args, logger, io, signal }) => {
        const until = new Promise<void>((ok) => (signal.aborted ? ok() : signal.addEventListener('abort', () => ok(), { once: true })));
        const r = await mountWithConfig({
          repo: opts.repo,
          config: opts.config,
          logger,
          restorePointId: opts.restorePoint,
          dir: args[0],
          files: opts.files,
          until,
          // the one line a waiting command prints before it ends: where to look, and how to stop
          onMounted: (m) =>
            io.stderr.write(
              `mounted ${opts.restorePoint} on ${m.dir}: ${[...m.files, ...m.volumes.map((v) => `${v}/`)].join(', ')}\nCtrl-C or "hvsnap umount ${m.dir}" unmounts\n`,
            ),
        });
        return { data: r, text: `unmounted ${r.dir}` };
      }),
    );

export const umountCommand: CommandModule = (kit) =>
  new Command('umount')
    .description('unmount a restore point mounted by "hvsnap mount" (its NTFS volumes first)')
    .argument('<dir>', 'the folder it is mounted on')
    .action(
      kit.action<Record<string, never>>(async ({ args }) => {
        const gone = await unmountRestorePoint(args[0]);
        return { data: { unmounted: gone }, text: gone.map((m) => `unmounted ${m}`).join('\n') };
      }),
    );
