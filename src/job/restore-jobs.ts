import type { Logger } from '../core/logger.js';
import { exportVm, type ExportVmResult } from '../restore/export-vm.js';
import { commitInstant, discardInstant, instantRestore, listInstant, type InstantEnv, type InstantRestoreArgs } from '../restore/instant/instant-restore.js';
import type { InstantSession } from '../restore/instant/instant-sessions.js';
import { mountRestorePoint, type MountedRestorePoint } from '../restore/mount/mount-restore-point.js';
import { repositorySource } from '../restore/restore-point-source.js';
import { openInstantEnvironment } from './instant-environment.js';
import { resolveJobConfig, snapshotAccessOf, withEnvironment, withRepository, type JobConfigSource } from './run-job.js';

/**
 * The recovery uses of a job configuration (export, mount, instant restore), one function each,
 * like run-job.ts: build the seams, run one library function, close the seams whatever happened.
 */
interface JobCall {
  config: JobConfigSource;
  logger: Logger;
  signal?: AbortSignal;
}

type Progress = (p: { disk: string; doneBytes: number; totalBytes: number }) => void;

/** `hvsnap export` (and `hvsnap restore` without `--import`): Hyper-V's export layout under `to`. */
export function exportWithConfig(args: JobCall & { restorePointId: string; to: string; verify?: boolean; onProgress?: Progress }): Promise<ExportVmResult> {
  return withEnvironment(args.config, args.logger, (env, config) =>
    exportVm({
      repository: env.repository,
      restorePointId: args.restorePointId,
      to: args.to,
      verify: args.verify,
      snapshotAccess: snapshotAccessOf(env, config),
      logger: args.logger,
      signal: args.signal,
      onProgress: args.onProgress,
    }),
  );
}

/**
 * `hvsnap mount`: serves the restore point on `dir` until `until` settles (Ctrl-C) or the mount is
 * taken away (`hvsnap umount`), then unmounts and closes the repository. `onMounted` is called
 * once it serves.
 */
export function mountWithConfig(args: {
  repo?: string;
  config?: JobConfigSource;
  logger: Logger;
  restorePointId: string;
  dir: string;
  files?: boolean;
  until: Promise<void>;
  onMounted?: (m: MountedRestorePoint) => void;
}): Promise<Pick<MountedRestorePoint, 'dir' | 'files' | 'volumes'> & { restorePointId: string }> {
  return withRepository({ repo: args.repo, config: args.config, logger: args.logger }, async (repository) => {
    const m = await mountRestorePoint({
      source: repositorySource(repository),
      restorePointId: args.restorePointId,
      dir: args.dir,
      files: args.files,
      logger: args.logger,
    });
    args.onMounted?.(m);
    await Promise.race([m.closed, args.until]);
    await m.unmount();
    await m.closed;
    return { restorePointId: args.restorePointId, dir: m.dir, files: m.files, volumes: m.volumes };
  });
}

/** Opens the instant-restore environment of a configuration, runs `fn`, and closes it. */
export async function withInstantEnvironment<T>(source: JobConfigSource, logger: Logger, fn: (env: InstantEnv) => Promise<T>): Promise<T> {
  const env = await openInstantEnvironment(await resolveJobConfig(source), logger);
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}

/** `hvsnap restore --instant`. */
export function instantRestoreWithConfig(args: JobCall & Omit<InstantRestoreArgs, 'signal' | 'afterStep'>): Promise<InstantSession> {
  const { config, logger, signal, ...rest } = args;
  return withInstantEnvironment(config, logger, (env) => instantRestore(env, { ...rest, signal }));
}

/** `hvsnap instant list`. */
export function listInstantWithConfig(args: JobCall): ReturnType<typeof listInstant> {
  return withInstantEnvironment(args.config, args.logger, (env) => listInstant(env));
}

/** `hvsnap instant commit ID --to DIR`. */
export function commitInstantWithConfig(args: JobCall & { id: string; destinationDir: string }): Promise<InstantSession> {
  return withInstantEnvironment(args.config, args.logger, (env) =>
    commitInstant(env, { id: args.id, destinationDir: args.destinationDir, signal: args.signal }),
  );
}

/** `hvsnap instant discard ID`. */
export function discardInstantWithConfig(args: JobCall & { id: string }): Promise<InstantSession> {
  return withInstantEnvironment(args.config, args.logger, (env) => discardInstant(env, { id: args.id, signal: args.signal }));
}
