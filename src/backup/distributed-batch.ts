import { Queue, QueueEvents, type Job } from 'bullmq';
import type { VmInfo } from '../core/types.js';
import { setReportOf, vmReportOf } from './backup-report.js';
import { planSets } from './host-plan.js';
import type { BackupPlan } from './plan.js';
import { connectRedis, type BullmqQueueConfig } from './redis-connection.js';
import type { SetJobData, SetJobResult } from './set-worker.js';
import type { ConcurrencyLimits } from './limits.js';
import { defaultPolicy, type BackupEnvironment, type BackupPolicy, type BackupReport, type SetReport, type VmReport } from './types.js';

/** ms finished set jobs stay in Redis (for a coordinator that reconnects, and for inspection) */
const KEEP_MS = 7 * 24 * 3600 * 1000;

/**
 * The coordinator of a distributed batch: plans the volume sets, enqueues one BullMQ job per set
 * (job id `<run>-s<index>`: adding it again is a no-op, so a set is never queued twice), caps the
 * sets in flight across all workers with BullMQ's global concurrency, waits for every set, and
 * aggregates the workers' reports into one. Cancelled (`signal`): sets still waiting are taken
 * back and reported `interrupted`; sets a worker holds finish there and are reported when done.
 */
export async function runDistributedBackup(
  env: BackupEnvironment,
  queueConfig: BullmqQueueConfig,
  args: { jobId: string; vms: VmInfo[]; limits: ConcurrencyLimits; policy?: Partial<BackupPolicy>; signal?: AbortSignal },
): Promise<BackupReport> {
  const started = Date.now();
  const log = env.logger.child({ job: args.jobId });
  const allVms = await env.hypervisor.listVms({}, { signal: args.signal });
  const groups = await env.hypervisor.listVmGroups({}, { signal: args.signal });
  const policy = { ...defaultPolicy, ...args.policy };
  // the plan a single-process run makes: host mode and hostFallback decide each set's mode here, and
  // the worker runs the set in that mode
  const plan = await planSets({ hypervisor: env.hypervisor, provider: env.provider, vms: args.vms, groups, allVms, policy }, { signal: args.signal });
  const hosts = Object.fromEntries(allVms.map((v) => [v.id, v.host]));
  // connections we pass in are ours to close (BullMQ closes only those it made)
  const connections = [connectRedis(queueConfig), connectRedis(queueConfig)];
  const queue = new Queue<SetJobData, SetJobResult>(queueConfig.name, { connection: connections[0] });
  const events = new QueueEvents(queueConfig.name, { connection: connections[1] });
  const outcomes = new Map<number, SetJobResult | { error: string } | 'interrupted'>();
  try {
    await events.waitUntilReady();
    if (args.limits.sets) await queue.setGlobalConcurrency(args.limits.sets);
    const jobs = await queue.addBulk(
      plan.sets.map((set) => ({
        name: 'volume-set',
        data: { batchId: args.jobId, set, policy, limits: args.limits, hosts },
        opts: { jobId: `${args.jobId}-s${set.index}`, attempts: 2, removeOnComplete: { age: KEEP_MS / 1000 }, removeOnFail: { age: KEEP_MS / 1000 } },
      })),
    );
    log.info({ sets: jobs.length, queue: queueConfig.name }, 'volume sets queued for the workers');
    const waits = jobs.map((job, i) =>
      job.waitUntilFinished(events).then(
        (r: SetJobResult) => void outcomes.set(plan.sets[i].index, r),
        (e: unknown) => void outcomes.set(plan.sets[i].index, { error: e instanceof Error ? e.message : String(e) }),
      ),
    );
    const cancelled = new Promise<void>((resolve) => {
      if (args.signal?.aborted) resolve();
      args.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([Promise.all(waits), cancelled]);
    if (args.signal?.aborted)
      await takeBack(
        jobs,
        plan.sets.map((s) => s.index),
        outcomes,
        log,
      );
  } finally {
    await events.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    for (const c of connections) c.disconnect();
  }
  return aggregate(args.jobId, started, plan, (set) => set.mode ?? policy.mode, outcomes, !!args.signal?.aborted);
}

/** Cancelled: jobs not yet taken by a worker are removed (a held job cannot be, and finishes on its worker). */
async function takeBack(
  jobs: Array<Job<SetJobData, SetJobResult>>,
  indexes: number[],
  outcomes: Map<number, unknown>,
  log: BackupEnvironment['logger'],
): Promise<void> {
  for (const [i, job] of jobs.entries()) {
    if (outcomes.has(indexes[i])) continue;
    const state = await job.getState();
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed') {
      await job.remove().catch(() => undefined);
      outcomes.set(indexes[i], 'interrupted');
    } else {
      log.warn({ set: indexes[i], state }, `volume set ${indexes[i]} is being run by a worker; it finishes there and a resume skips what it committed`);
      outcomes.set(indexes[i], 'interrupted');
    }
  }
}

function aggregate(
  jobId: string,
  started: number,
  plan: BackupPlan,
  mode: (set: BackupPlan['sets'][number]) => VmReport['mode'],
  outcomes: Map<number, SetJobResult | { error: string } | 'interrupted'>,
  interrupted: boolean,
): BackupReport {
  const sets: SetReport[] = [];
  const vms: VmReport[] = unplacedReports(plan);
  const leftBehind: string[] = [];
  for (const set of plan.sets) {
    const o = outcomes.get(set.index);
    if (o && o !== 'interrupted' && !('error' in o)) {
      sets.push({ ...o.set, worker: `${o.worker.proxy} (${o.worker.host}:${o.worker.pid})` });
      vms.push(...o.vms);
      leftBehind.push(...o.leftBehind);
      continue;
    }
    const error =
      o === undefined || o === 'interrupted'
        ? { code: 'aborted', message: 'not finished: the run was interrupted' }
        : { code: 'step_failed', message: `the worker failed: ${o.error}` };
    sets.push(setReportOf(set, { status: 'failed', error }));
    vms.push(...notRunReports(set, mode(set), error));
  }
  const totals = { vms: 0, ok: 0, failed: 0, bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0 };
  for (const v of vms) {
    if (interrupted && v.status === 'failed' && v.error?.code === 'aborted') v.status = 'interrupted';
    totals.vms++;
    totals[v.status === 'ok' ? 'ok' : 'failed']++;
    for (const k of ['bytesRead', 'bytesWritten', 'chunksNew', 'chunksReused'] as const) totals[k] += v[k];
  }
  const ok = totals.failed === 0 && leftBehind.length === 0 && !interrupted;
  return {
    jobId,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    snapshotSets: sets.filter((s) => s.snapshot).length,
    sets,
    vms,
    leftBehind,
    totals,
    ok,
    status: interrupted ? 'interrupted' : ok ? 'ok' : 'failed',
  };
}

/** The report of every VM the plan could not place in a volume set. */
function unplacedReports(plan: BackupPlan): VmReport[] {
  return plan.unplaced.map((u) => vmReportOf(u.vm, 0, { status: 'failed', step: 'plan', error: { code: u.error.code, message: u.error.message } }));
}

/** The report of every VM of a set that did not finish on a worker. */
function notRunReports(set: BackupPlan['sets'][number], mode: VmReport['mode'], error: { code: string; message: string }): VmReport[] {
  return set.vms.map((vm) => vmReportOf(vm, set.index, { mode, status: error.code === 'aborted' ? 'interrupted' : 'failed', error }));
}
