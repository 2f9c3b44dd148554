import { Command } from 'commander';
import { cleanupLeftovers } from '../../backup/cleanup.js';
import { cleanupInstant } from '../../restore/instant/instant-restore.js';
import { loadJobConfig } from '../config.js';
import { instantHostOf } from '../instant-environment.js';
import { openEnvironment } from '../environment.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';

export const cleanupCommand: CommandModule = (kit) =>
  new Command('cleanup')
    .description('after a crash: undo what unfinished jobs left (checkpoints, presentations, snapshots), list orphan snapshots')
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .action(
      kit.action<{ config: string }>(async ({ opts, logger, signal }) => {
        const env = await openEnvironment(await loadJobConfig(opts.config), logger);
        try {
          const r = await cleanupLeftovers(env, { signal });
          // instant restores whose process died half-way: undone, or (mid-commit) committed
          const host = instantHostOf(env.hypervisor);
          const instant = host ? await cleanupInstant({ ...env, host }, { signal }) : { finished: [], failures: [] };
          r.replayed.push(...instant.finished.map((f) => `instant restore ${f}`));
          r.failures.push(...instant.failures);
          const text = [
            `replayed ${r.replayed.length} undo(s) from unfinished jobs`,
            ...r.replayed.map((x) => `  ${x}`),
            `removed ${r.checkpoints.length} stale checkpoint(s)`,
            ...r.checkpoints.map((x) => `  ${x}`),
            r.orphanSnapshots.length ? `array snapshots named by hvsnap that no restore point keeps (delete them on the array if they are not yours): ${r.orphanSnapshots.join(', ')}` : 'no orphan array snapshots',
            ...r.failures.map((f) => `  FAILED: ${f.what}: ${String(f.error.message)}`),
          ].join('\n');
          return { data: r, text, exitCode: r.failures.length ? ExitCode.failed : ExitCode.ok };
        } finally {
          await env.close();
        }
      }),
    );
