import { hostname } from 'node:os';
import { errorSummary, isAbortError, toHvsnapError } from '../core/errors.js';
import { saveJobRecord, statusOf, type JobRecord } from './job-history.js';
import { acquireJobLease } from './job-lease.js';
import { newJobId, runBackup } from './backup-job.js';
import type { BackupEnvironment, BackupOptions, BackupReport } from './types.js';

/** What a controlled run is, for its lease and its record in the job history. */
export interface JobControlArgs {
  kind: JobRecord['kind'];
  jobId: string;
  /** identifies the configuration and selection (e.g. the config file and the batch's `select`) */
  key: string;
  vms: Array<{ id: string; name: string }>;
  batchId?: string;
  resumeOf?: string;
  configFile?: string;
  signal?: AbortSignal;
}

/**
 * Runs `run` under job control: the lease of (configuration, selection) first — a live run on any
 * of the same VMs makes this one refuse, naming it — then a `running` record in the repository's job
 * history, overwritten with the report (or the error) when the run ends. The lease goes last.
 */
export async function underJobControl<R extends BackupReport>(env: BackupEnvironment, args: JobControlArgs, run: () => Promise<R>): Promise<R> {
  const repo = env.repository.path;
  const lease = await acquireJobLease({ repositoryPath: repo, key: args.key, kind: args.kind, jobId: args.jobId, vms: args.vms });
  const record: JobRecord = {
    id: args.jobId,
    kind: args.kind,
    batchId: args.batchId,
    resumeOf: args.resumeOf,
    status: 'running',
    startedAt: lease.owner.startedAt,
    pid: process.pid,
    host: hostname(),
    startTicks: lease.owner.startTicks,
    configFile: args.configFile,
    vms: args.vms.map((v) => v.name),
  };
  try {
    await saveJobRecord(repo, record);
    const report = await run();
    await saveJobRecord(repo, { ...record, status: statusOf(report), finishedAt: new Date().toISOString(), report });
    return report;
  } catch (e) {
    const err = toHvsnapError(e);
    const status = args.signal?.aborted && isAbortError(e) ? 'interrupted' : 'failed';
    await saveJobRecord(repo, { ...record, status, finishedAt: new Date().toISOString(), error: { code: err.code, message: err.message } }).catch((w) =>
      env.logger.error({ error: errorSummary(w) }, 'could not save the job record'),
    );
    throw e;
  } finally {
    await lease.release();
  }
}

/**
 * `hvsnap backup` under job control: the selected VMs (by name, else all of the host) are leased,
 * backed up by {@link runBackup}, and the report is kept in the job history.
 */
export async function runBackupJob(env: BackupEnvironment, options: BackupOptions & { configFile?: string } = {}): Promise<BackupReport> {
  const jobId = options.jobId ?? newJobId();
  const vms = await env.hypervisor.listVms(options.vms?.length ? { names: options.vms } : {}, { signal: options.signal });
  const key = `backup\0${options.configFile ?? ''}\0${JSON.stringify(options.vmIds ?? options.vms ?? [])}`;
  const chosen = options.vmIds?.length ? vms.filter((v) => options.vmIds!.includes(v.id)) : vms;
  return underJobControl(env, { kind: 'backup', jobId, key, vms: chosen, configFile: options.configFile, signal: options.signal }, () =>
    runBackup(env, { ...options, jobId }),
  );
}
