import { Command } from 'commander';
import { workerWithConfig } from '../../job/scale-out-jobs.js';
import { parseCount } from '../format.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';

/** `hvsnap worker`: one per proxy; runs the volume sets `hvsnap batch` queues on Redis, until stopped. */
export const workerCommand: CommandModule = (kit) =>
  new Command('worker')
    .description(
      'on each proxy: run the volume sets a batch queues on Redis (queue.kind bullmq) through this proxy, until SIGTERM (the set in hand is finished first)',
    )
    .requiredOption('-c, --config <file>', 'job configuration (YAML) with a queue section of kind bullmq')
    .option('--sets <n>', 'volume sets this worker runs at once', '1')
    .action(
      kit.action<{ config: string; sets: string }>(async ({ opts, logger, signal }) => {
        const r = await workerWithConfig({ config: opts.config, logger, signal, concurrency: parseCount(opts.sets, '--sets', 1) });
        const text = `worker stopped (${r.stoppedBy === 'redis' ? 'Redis was lost' : 'asked to stop'}) after ${r.sets} volume set(s)`;
        return { data: r, text, exitCode: r.stoppedBy === 'redis' ? ExitCode.failed : ExitCode.ok };
      }),
    );
