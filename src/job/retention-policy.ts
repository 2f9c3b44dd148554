import { errorSummary, HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { BatchReport } from '../backup/batch.js';
import type { PruneReport } from '../backup/prune.js';
import type { BackupProgress } from '../backup/types.js';
import { RETENTION_KEYS } from '../repository/retention.js';
import type { RetentionPolicy } from '../repository/types.js';
import type { JobConfig } from './config.js';
import { batchWithConfig, pruneWithConfig, resolveJobConfig, type JobConfigSource } from './run-job.js';

/** The flag that sets each retention rule. */
export const RETENTION_FLAGS: Record<(typeof RETENTION_KEYS)[number], string> = {
  keepLast: '--keep-last',
  keepDaily: '--keep-daily',
  keepWeekly: '--keep-weekly',
  keepMonthly: '--keep-monthly',
  keepYearly: '--keep-yearly',
};

/**
 * The policy prune applies: the rules given on the command line when there is any (they replace
 * the configuration's, never mix with them), else the configuration's `retention:`. Neither is an
 * `input_invalid` naming the flags and the configuration key.
 */
export function retentionPolicyOf(config: JobConfig | undefined, flags: RetentionPolicy): RetentionPolicy {
  const given = RETENTION_KEYS.filter((k) => flags[k] !== undefined);
  if (given.length) return Object.fromEntries(given.map((k) => [k, flags[k]]));
  const fromConfig = config?.retention;
  if (fromConfig && RETENTION_KEYS.some((k) => fromConfig[k] !== undefined)) {
    return Object.fromEntries(RETENTION_KEYS.filter((k) => fromConfig[k] !== undefined).map((k) => [k, fromConfig[k]]));
  }
  throw new HvsnapError(
    'input_invalid',
    `prune needs a retention policy: give ${Object.values(RETENTION_FLAGS).join(', ')} (any of them, e.g. --keep-last 7), or a retention: section in the configuration${config ? ` (${config.file} has none)` : ''}`,
    { context: { field: '--keep-last' } },
  );
}

/**
 * `hvsnap prune`: the policy of {@link retentionPolicyOf} applied to the repository of `repo` or
 * `config` (see pruneWithConfig).
 */
export async function pruneWithRetention(args: {
  repo?: string;
  config?: JobConfigSource;
  flags: RetentionPolicy;
  vm?: string;
  dryRun?: boolean;
  logger: Logger;
  signal?: AbortSignal;
}): Promise<PruneReport & { policy: RetentionPolicy }> {
  const config = args.config ? await resolveJobConfig(args.config) : undefined;
  const policy = retentionPolicyOf(config, args.flags);
  const report = await pruneWithConfig({
    repo: args.repo,
    config,
    logger: args.logger,
    signal: args.signal,
    policy: { ...policy, vm: args.vm, dryRun: args.dryRun },
  });
  return { ...report, policy };
}

/**
 * `hvsnap batch`: the configured batch, then, when `retention.afterBatch` is set and the batch was
 * not interrupted, prune with the configuration's retention. A failed prune is reported beside
 * the batch (`pruneError`), never in place of it.
 */
export async function batchThenPrune(args: {
  config: JobConfigSource;
  resume?: string;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
}): Promise<BatchReport & { prune?: PruneReport; pruneError?: Record<string, unknown> }> {
  const config = await resolveJobConfig(args.config);
  const report = await batchWithConfig({ ...args, config });
  if (!config.retention?.afterBatch || args.signal?.aborted) return report;
  try {
    return { ...report, prune: await pruneWithConfig({ config, logger: args.logger, signal: args.signal, policy: retentionPolicyOf(config, {}) }) };
  } catch (e) {
    args.logger.error({ error: errorSummary(e) }, 'prune after the batch failed');
    return { ...report, pruneError: errorSummary(e) };
  }
}
