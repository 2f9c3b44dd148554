import { Command } from 'commander';
import { cleanupWithConfig } from '../../job/index.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';

export const cleanupCommand: CommandModule = (kit) =>
  new Command('cleanup')
    .description('after a crash: undo what unfinished jobs left (checkpoints, presentations, snapshots), list orphan snapshots')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .action(
      kit.action<{ config: string }>(async ({ opts, logger, signal }) => {
        const r = await cleanupWithConfig({ config: opts.config, logger, signal });
        const text = [
          ...r.hostMended.map((x) => `host: ${x}`),
          `replayed ${r.replayed.length} undo(s) from unfinished jobs`,
          ...r.replayed.map((x) => `  ${x}`),
          `removed ${r.checkpoints.length} stale checkpoint(s)`,
          ...r.checkpoints.map((x) => `  ${x}`),
          `removed ${r.referencePoints.length} reference point(s) no restore point needs`,
          ...r.referencePoints.map((x) => `  ${x}`),
          r.orphanSnapshots.length
            ? `array snapshots named by hvsnap that no restore point keeps (delete them on the array if they are not yours): ${r.orphanSnapshots.join(', ')}`
            : 'no orphan array snapshots',
          ...r.failures.map((f) => `  FAILED: ${f.what}: ${String(f.error.message)}`),
          ...(r.failures.length ? ['next: fix what the FAILED lines name, then run hvsnap cleanup again (what is left stays in the job journals)'] : []),
        ].join('\n');
        return { data: r, text, exitCode: r.failures.length ? ExitCode.failed : ExitCode.ok };
      }),
    );
