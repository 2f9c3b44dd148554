import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { listJobRecords, readJobRecord, type JobRecord } from '../backup/job-history.js';
import { resolveJobConfig, withEnvironment, type JobConfigSource } from './run-job.js';

/**
 * `hvsnap worker`: runs the volume sets a distributed batch queues (the configuration's `queue`,
 * kind bullmq) through this configuration's proxy until `signal` fires. BullMQ is loaded here only.
 */
export async function workerWithConfig(args: {
  config: JobConfigSource;
  logger: Logger;
  signal: AbortSignal;
  concurrency?: number;
}): Promise<{ sets: number; stoppedBy: 'signal' | 'redis' }> {
  const config = await resolveJobConfig(args.config);
  const queue = config.queue;
  if (queue?.kind !== 'bullmq') {
    throw new HvsnapError('config_invalid', `${config.file}: a worker needs queue.kind bullmq (with queue.url), found ${queue?.kind ?? 'no queue section'}`, {
      context: { file: config.file, field: 'queue.kind' },
    });
  }
  const { runSetWorker } = await import('../backup/set-worker.js');
  return withEnvironment(config, args.logger, (env) => runSetWorker(env, queue, { signal: args.signal, concurrency: args.concurrency }));
}

/** `hvsnap jobs`: the runs kept in the configuration's repository, newest first. */
export async function jobsWithConfig(args: { config: JobConfigSource }): Promise<JobRecord[]> {
  return listJobRecords((await resolveJobConfig(args.config)).repository.path);
}

/** `hvsnap jobs show ID`: one run's record with its report. */
export async function jobWithConfig(args: { config: JobConfigSource; id: string }): Promise<JobRecord> {
  return readJobRecord((await resolveJobConfig(args.config)).repository.path, args.id);
}
