import { Command } from 'commander';
import { HvsnapError } from '../../core/errors.js';
import { openRepository } from '../../repository/index.js';
import { mountRestorePoint } from '../../restore/mount/mount-restore-point.js';
import { unmountRestorePoint } from '../../restore/mount/mount-table.js';
import { repositorySource } from '../../restore/restore-point-source.js';
import { loadJobConfig } from '../config.js';
import type { CommandModule } from '../program.js';

export const mountCommand: CommandModule = (kit) =>
  new Command('mount')
    .description('serve a restore point read-only through FUSE: per disk a VHDX and a raw image, made from the chunks on demand (--files: NTFS volumes too); runs until Ctrl-C or "hvsnap umount DIR"')
    .argument('<dir>', 'an empty folder to mount on')
    .requiredOption('--restore-point <id>', 'restore point id (see "hvsnap list")')
    .option('-c, --config <file>', 'job configuration (YAML)')
    .option('--repo <path>', 'repository folder')
    .option('--files', 'also mount each NTFS partition read-only with ntfs-3g (root)', false)
    .action(
      kit.action<{ restorePoint: string; config?: string; repo?: string; files: boolean }>(async ({ opts, args, logger, io, signal }) => {
        const path = opts.repo ?? (opts.config ? (await loadJobConfig(opts.config)).repository.path : undefined);
        if (!path) throw new HvsnapError('input_invalid', 'name the repository with --repo PATH or --config FILE', { context: { field: '--repo' } });
        const repository = await openRepository({ path, logger });
        try {
          const m = await mountRestorePoint({ source: repositorySource(repository), restorePointId: opts.restorePoint, dir: args[0], files: opts.files, logger });
          // the one line a waiting command prints before it ends: where to look, and how to stop
          io.stderr.write(`mounted ${opts.restorePoint} on ${m.dir}: ${[...m.files, ...m.volumes.map((v) => `${v}/`)].join(', ')}\nCtrl-C or "hvsnap umount ${m.dir}" unmounts\n`);
          const aborted = new Promise<void>((ok) => (signal.aborted ? ok() : signal.addEventListener('abort', () => ok(), { once: true })));
          await Promise.race([m.closed, aborted]);
          await m.unmount();
          await m.closed;
          return { data: { restorePointId: opts.restorePoint, dir: m.dir, files: m.files, volumes: m.volumes }, text: `unmounted ${m.dir}` };
        } finally {
          await repository.close();
        }
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
