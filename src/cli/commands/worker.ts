import { Command } from 'commander';
import { HvsnapError } from '../../core/errors.js';
import { loadJobConfig } from '../config.js';
import { openEnvironment } from '../environment.js';
import { parseCount } from '../format.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';

/** `hvsnap worker`: one per proxy; runs the volume sets `hvsnap batch` queues on Redis, until stopped. */
export const workerCommand: CommandModule = (kit) =>
  new Command('worker')
    .description('on each proxy: run the volume sets a batch queues on Redis (queue.kind bullmq) through this proxy, until SIGTERM (the set in hand is finished first)')
    .requiredOption('-c, --config <file>', 'job configuration (YAML) with a queue section of kind bullmq')
    .option('--sets <n>', 'volume sets this worker runs at once', '1')
    .action(
      kit.action<{ config: string; sets: string }>(async ({ opts, logger, signal }) => {
        const config = await loadJobConfig(opts.config);
        if (config.queue?.kind !== 'bullmq') {
          throw new HvsnapError('config_invalid', `${config.file}: a worker needs queue.kind bullmq (with queue.url), found ${config.queue?.kind ?? 'no queue section'}`, { context: { file: config.file, field: 'queue.kind' } });
        }
        const concurrency = parseCount(opts.sets, '--sets', 1);
        const env = await openEnvironment(config, logger);
        try {
          // BullMQ is loaded by this command only
          const { runSetWorker } = await import('../../backup/set-worker.js');
          const r = await runSetWorker(env, config.queue, { signal, concurrency });
          const text = `worker stopped (${r.stoppedBy === 'redis' ? 'Redis was lost' : 'asked to stop'}) after ${r.sets} volume set(s)`;
          return { data: r, text, exitCode: r.stoppedBy === 'redis' ? ExitCode.failed : ExitCode.ok };
        } finally {
          await env.close();
        }
      }),
    );
