import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { runBackupJob } from '../backup/job-control.js';
import { batchSpecSchema, runBatch, type BatchReport } from '../backup/batch.js';
import { cleanupLeftovers, type CleanupReport } from '../backup/cleanup.js';
import { pruneRestorePoints, type PruneReport } from '../backup/prune.js';
import type { BackupEnvironment, BackupProgress, BackupReport } from '../backup/types.js';
import { openRepository, type Repository } from '../repository/index.js';
import type { RetentionPolicy } from '../repository/types.js';
import { cleanupInstant } from '../restore/instant/instant-restore.js';
import { restoreVm, type RestoreVmResult } from '../restore/restore-vm.js';
import type { SnapshotAccess } from '../restore/restore-from-snapshot.js';
import { loadProvider } from '../../providers/index.js';
import { loadJobConfig, type JobConfig } from './config.js';
import { openEnvironment } from './environment.js';
import { arrayKeyOf, instantHostsOf } from './instant-environment.js';
import { policyFromConfig } from './policy.js';
import type { TranscriptRecorder } from '../transport/index.js';

/**
 * One function per thing a job configuration is used for: each reads the configuration (a file
 * name, or one already loaded), builds the seams it names, runs one library function and closes
 * the seams again, whatever happened. What the CLI and library users call.
 */

/** A job configuration file, or one already loaded with {@link loadJobConfig}. */
export type JobConfigSource = string | JobConfig;

interface JobCall {
  config: JobConfigSource;
  logger: Logger;
  signal?: AbortSignal;
  /** writes every host script call to a transcript (`--record DIR`) */
  record?: TranscriptRecorder;
}

export async function resolveJobConfig(source: JobConfigSource): Promise<JobConfig> {
  return typeof source === 'string' ? loadJobConfig(source) : source;
}

/** Opens the environment of a configuration, runs `fn` with it, and closes it. */
export async function withEnvironment<T>(
  source: JobConfigSource,
  logger: Logger,
  fn: (env: BackupEnvironment & { close(): Promise<void> }, config: JobConfig) => Promise<T>,
  opts: { record?: TranscriptRecorder } = {},
): Promise<T> {
  const config = await resolveJobConfig(source);
  const env = await openEnvironment(config, logger, opts);
  try {
    return await fn(env, config);
  } finally {
    await env.close();
  }
}

/** What a snapshot-only restore point is read through: the job's array and proxy, and its `proxy.keepHost`. */
export function snapshotAccessOf(env: BackupEnvironment, config: JobConfig): SnapshotAccess {
  return { provider: env.provider, proxy: env.proxy, proxyHost: env.proxyHost, keepHost: config.proxy.keepHost ?? false };
}

/** `hvsnap backup`: the configured VMs (or `vms`), with the configured policy. */
export function backupWithConfig(args: JobCall & { vms?: string[]; full?: boolean; onProgress?: (p: BackupProgress) => void }): Promise<BackupReport> {
  return withEnvironment(
    args.config,
    args.logger,
    (env, config) =>
      runBackupJob(env, {
        configFile: config.file,
        vms: args.vms ?? config.vms,
        policy: policyFromConfig(config, !!args.full),
        signal: args.signal,
        onProgress: args.onProgress,
      }),
    { record: args.record },
  );
}

/** `hvsnap batch`: the configuration's batch selection and limits; `resume` continues a batch that died. */
export function batchWithConfig(args: JobCall & { resume?: string; onProgress?: (p: BackupProgress) => void }): Promise<BatchReport> {
  return withEnvironment(args.config, args.logger, (env, config) =>
    runBatch(env, config.batch ?? batchSpecSchema.parse({}), {
      resume: args.resume,
      configFile: config.file,
      distributed: config.queue?.kind === 'bullmq' ? config.queue : undefined,
      policy: policyFromConfig(config, false),
      signal: args.signal,
      onProgress: args.onProgress,
    }),
  );
}

/** `hvsnap cleanup`: undoes what dead jobs left behind. */
export function cleanupWithConfig(args: JobCall): Promise<CleanupReport> {
  return withEnvironment(args.config, args.logger, async (env, config) => {
    const r = await cleanupLeftovers(env, { signal: args.signal });
    // instant restores whose process died half-way: undone, or (mid-commit) committed
    const hostFor = instantHostsOf(env.hypervisor);
    if (hostFor) {
      const instant = await cleanupInstant({ ...env, hostFor, arrayKey: arrayKeyOf(config) }, { signal: args.signal });
      r.replayed.push(...instant.finished.map((f) => `instant restore ${f}`));
      r.failures.push(...instant.failures);
    }
    return r;
  });
}

/** `hvsnap restore`: a restore point's disks into `targetDir`, optionally imported on the host. */
export function restoreWithConfig(
  args: JobCall & {
    restorePointId: string;
    targetDir: string;
    import?: { hostDir: string; newId: boolean; name?: string };
    /** read each restored disk back (see RestoreVmArgs.verify) */
    verify?: boolean;
    onProgress?: (p: { disk: string; doneBytes: number; totalBytes: number }) => void;
  },
): Promise<RestoreVmResult> {
  return withEnvironment(
    args.config,
    args.logger,
    (env, config) =>
      restoreVm({
        repository: env.repository,
        restorePointId: args.restorePointId,
        targetDir: args.targetDir,
        verify: args.verify,
        import: args.import ? { hypervisor: env.hypervisor, ...args.import } : undefined,
        snapshotAccess: snapshotAccessOf(env, config),
        logger: args.logger,
        signal: args.signal,
        onProgress: args.onProgress,
      }),
    { record: args.record },
  );
}

/** The repository `repo` names, or the one of `config`. Never creates one. */
export async function openRepositoryOf(args: { repo?: string; config?: JobConfigSource; logger: Logger }): Promise<Repository> {
  if (args.repo) return openRepository({ path: args.repo, logger: args.logger });
  if (args.config) return openRepository({ path: (await resolveJobConfig(args.config)).repository.path, logger: args.logger });
  throw new HvsnapError('input_invalid', 'name the repository with --repo PATH or --config FILE', { context: { field: '--repo' } });
}

/** Runs `fn` with the repository {@link openRepositoryOf} opens, and closes it. */
export async function withRepository<T>(args: { repo?: string; config?: JobConfigSource; logger: Logger }, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await openRepositoryOf(args);
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}

/**
 * `hvsnap prune`: retention on the repository of `repo` or `config`. The array (from `config`) is
 * needed only to delete the snapshots that snapshot-only restore points kept.
 */
export async function pruneWithConfig(args: {
  repo?: string;
  config?: JobConfigSource;
  logger: Logger;
  signal?: AbortSignal;
  policy: RetentionPolicy & { vm?: string; dryRun?: boolean };
}): Promise<PruneReport> {
  const config = args.config ? await resolveJobConfig(args.config) : undefined;
  return withRepository({ repo: args.repo, config, logger: args.logger }, async (repository) => {
    const provider = config
      ? await loadProvider({ provider: config.provider.name, config: config.provider.config, logger: args.logger, configFile: config.file })
      : undefined;
    try {
      return await pruneRestorePoints({ repository, provider, logger: args.logger }, args.policy, { signal: args.signal });
    } finally {
      await provider?.close?.();
    }
  });
}
