import { randomBytes } from 'node:crypto';
import { journalDir } from '../core/names.js';
import { z } from 'zod';
import { HvsnapError } from '../core/errors.js';
import type { VmInfo } from '../core/types.js';
import { runBackup, newJobId } from './backup-job.js';
import { cleanupLeftovers } from './cleanup.js';
import { readOpenJournals } from './journal.js';
import { combineReports, earlierResults, emptyReport } from './batch-report.js';
import { batchRecords } from './job-history.js';
import { underJobControl } from './job-control.js';
import type { BullmqQueueConfig } from './queue-config.js';
import type { BackupEnvironment, BackupOptions, BackupReport, VmReport } from './types.js';

/** What a nightly batch on a proxy host backs up, and how hard it may push. */
export const batchSpecSchema = z
  .object({
    select: z
      .object({
        /** exact VM names */
        names: z.array(z.string().min(1)).optional(),
        /** name patterns with `*` and `?` */
        patterns: z.array(z.string().min(1)).optional(),
        /** VM group names */
        groups: z.array(z.string().min(1)).optional(),
        /** every VM owned by these hosts */
        hosts: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .default({}),
    limits: z
      .object({
        sets: z.number().int().min(1).max(256).default(2),
        perHost: z.number().int().min(1).max(256).default(4),
        perArray: z.number().int().min(1).max(256).default(4),
        perProxy: z.number().int().min(1).max(256).default(2),
      })
      .strict()
      .default({ sets: 2, perHost: 4, perArray: 4, perProxy: 2 }),
  })
  .strict();

export type BatchSpec = z.infer<typeof batchSpecSchema>;

export interface BatchReport extends BackupReport {
  batchId: string;
  /** VMs that already had a restore point from this batch (a resumed run skips them) */
  skipped: string[];
  resumed: boolean;
  /** the runs this report covers, oldest first (more than one after a resume) */
  runs?: string[];
}

/** The VMs a selector names; none selected, or a name/group that matches nothing, is an error naming it. */
export function selectVms(all: VmInfo[], groups: Array<{ name: string; vmIds: string[] }>, select: BatchSpec['select']): VmInfo[] {
  const any = select.names || select.patterns || select.groups || select.hosts;
  if (!any) return all;
  const chosen = new Map<string, VmInfo>();
  for (const name of select.names ?? []) {
    const vm = all.find((v) => v.name === name);
    if (!vm) throw new HvsnapError('vm_not_found', `batch: VM "${name}" not found`, { context: { vm: name, field: 'select.names' } });
    chosen.set(vm.id, vm);
  }
  for (const p of select.patterns ?? []) {
    const re = new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      'i',
    );
    for (const vm of all.filter((v) => re.test(v.name))) chosen.set(vm.id, vm);
  }
  for (const g of select.groups ?? []) {
    const group = groups.find((x) => x.name === g);
    if (!group) throw new HvsnapError('not_found', `batch: VM group "${g}" not found`, { context: { field: 'select.groups' } });
    for (const vm of all.filter((v) => group.vmIds.includes(v.id))) chosen.set(vm.id, vm);
  }
  for (const h of select.hosts ?? []) for (const vm of all.filter((v) => v.host.toLowerCase() === h.toLowerCase())) chosen.set(vm.id, vm);
  if (chosen.size === 0) throw new HvsnapError('vm_not_found', 'batch: the selection matches no VM', { context: { field: 'select' } });
  return [...chosen.values()];
}

/**
 * A batch: select, plan (one snapshot per volume set, shared by every VM on it), run the sets with
 * the limits, report. Runs under job control (a lease on its VMs, a record in the job history).
 * `resume` continues a batch that died or was interrupted: what its journal owes is undone first,
 * then every VM without a restore point from this batch — never started, interrupted or failed —
 * is backed up, and the report covers both runs.
 */
export async function runBatch(
  env: BackupEnvironment,
  spec: BatchSpec,
  options: Omit<BackupOptions, 'vms' | 'vmIds' | 'limits' | 'jobId'> & {
    resume?: string;
    configFile?: string;
    /** hand the sets to `hvsnap worker` processes through BullMQ on Redis instead of running them here */
    distributed?: BullmqQueueConfig;
  } = {},
): Promise<BatchReport> {
  const batchId = options.resume ?? newJobId();
  // without Redis the batch cannot be handed out: refuse before anything is leased or touched
  // (BullMQ and ioredis are loaded only here, by a batch that uses them)
  const distributed = options.distributed ? await import('./distributed-batch.js') : undefined;
  if (options.distributed) await (await import('./redis-connection.js')).checkRedis(options.distributed);
  const all = await env.hypervisor.listVms({}, { signal: options.signal });
  const groups = await env.hypervisor.listVmGroups({}, { signal: options.signal });
  const selected = selectVms(all, groups, spec.select);
  // a resumed run gets names of its own: a leftover snapshot of the dead run must never be taken for this one's
  const jobId = options.resume ? `${batchId}-r${randomBytes(2).toString('hex')}` : batchId;
  const control = {
    kind: 'batch' as const,
    jobId,
    batchId,
    resumeOf: options.resume,
    configFile: options.configFile,
    signal: options.signal,
    vms: selected,
    key: `batch\0${options.configFile ?? ''}\0${JSON.stringify(spec.select)}`,
  };
  return underJobControl(env, control, async () => {
    let vms = selected;
    let earlier: VmReport[] = [];
    let earlierRuns: string[] = [];
    if (options.resume) {
      ({ vms, earlier, earlierRuns } = await prepareResume(env, { batchId, jobId, vms, journalDir: options.journalDir, signal: options.signal }));
    }
    const done = new Set(earlier.map((v) => v.vmId));
    const skipped = selected.filter((v) => done.has(v.id)).map((v) => v.name);
    const report = vms.length === 0 ? emptyReport(jobId) : await backupSelected(env, spec, options, distributed, jobId, vms);
    return {
      ...combineReports(
        report,
        earlier.filter((v) => selected.some((s) => s.id === v.vmId)),
        earlierRuns,
      ),
      batchId,
      skipped,
      resumed: !!options.resume,
    };
  });
}

/** The VMs left to back up: handed to `hvsnap worker` processes when distributed, else run here. */
async function backupSelected(
  env: BackupEnvironment,
  spec: BatchSpec,
  options: NonNullable<Parameters<typeof runBatch>[2]>,
  distributed: typeof import('./distributed-batch.js') | undefined,
  jobId: string,
  vms: VmInfo[],
): Promise<BackupReport> {
  return distributed && options.distributed
    ? await distributed.runDistributedBackup(env, options.distributed, {
        jobId,
        vms,
        limits: spec.limits,
        policy: options.policy,
        signal: options.signal,
      })
    : await runBackup(env, { ...options, jobId, vmIds: vms.map((v) => v.id), limits: spec.limits });
}

/**
 * What a resumed batch starts from: the dead run's journals undone (refused while it still runs, or when
 * it left nothing), its earlier results, and the VMs still without a restore point of the batch.
 */
async function prepareResume(
  env: BackupEnvironment,
  args: { batchId: string; jobId: string; vms: VmInfo[]; journalDir?: string; signal?: AbortSignal },
): Promise<{ vms: VmInfo[]; earlier: VmReport[]; earlierRuns: string[] }> {
  const { batchId, jobId } = args;
  const journals = await readOpenJournals(args.journalDir ?? journalDir(env.repository.path));
  const points = (await env.repository.listRestorePoints()).filter((p) => ofBatch(p.jobId, batchId));
  const mine = journals.filter((j) => ofBatch(j.jobId, batchId));
  const records = (await batchRecords(env.repository.path, batchId)).filter((r) => r.id !== jobId);
  if (points.length === 0 && mine.length === 0 && records.length === 0) {
    throw new HvsnapError('not_found', `batch ${batchId} left no journal, job record or restore point in ${env.repository.path}: nothing to resume`, {
      context: { field: '--resume' },
    });
  }
  const alive = mine.find((j) => j.owner.alive);
  if (alive)
    throw new HvsnapError('vm_in_use', `batch ${batchId} is still running (pid ${alive.owner.pid} on ${alive.owner.host})`, {
      retryable: true,
      context: { field: '--resume' },
    });
  await cleanupLeftovers(env, { journalDir: args.journalDir, signal: args.signal });
  const earlier = earlierResults(points, records);
  const earlierRuns = records.map((r) => r.id);
  const done = new Set(points.map((p) => p.vm.id));
  return { vms: args.vms.filter((v) => !done.has(v.id)), earlier, earlierRuns };
}

/** True when a job id is the batch's own run or one of its resumes/retries. */
export function ofBatch(jobId: string, batchId: string): boolean {
  return jobId === batchId || jobId.startsWith(`${batchId}-r`);
}
