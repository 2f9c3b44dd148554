import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorSummary } from '../core/errors.js';
import { backupSet } from './backup-set.js';
import { setReportOf } from './backup-report.js';
import { earlierResults } from './batch-report.js';
import { Journal, readOpenJournals } from './journal.js';
import { limitHypervisor, limitProvider } from './limits.js';
import { createLimit, type Limit } from '../core/concurrency.js';
import type { Logger } from '../core/logger.js';
import type { VolumeSet } from './plan.js';
import { checkRedis, connectRedis, redisWhere, type BullmqQueueConfig } from './redis-connection.js';
import { RedisSemaphore, slotKey } from './redis-semaphore.js';
import { Saga } from './saga.js';
import type { BackupEnvironment, BackupHooks, BackupPolicy, SetReport, VmReport } from './types.js';
import type { ConcurrencyLimits } from './limits.js';
import { HostLeases } from './host-leases.js';
import { backupUndoTargets, describeUndo, runUndo } from './undo.js';

/** One volume set of a batch, as the coordinator enqueues it (BullMQ job data; JSON). */
export interface SetJobData {
  batchId: string;
  set: VolumeSet;
  policy: BackupPolicy;
  limits: ConcurrencyLimits;
  /** the Hyper-V host of each VM id of the set (for per-host limits) */
  hosts: Record<string, string>;
}

/** What a worker reports for a set (BullMQ job return value). */
export interface SetJobResult {
  /** the run id the set ran under (the batch id, or `<batch>-r<hex>` on a retry) */
  jobId: string;
  set: SetReport;
  vms: VmReport[];
  worker: { host: string; pid: number; proxy: string };
  /** undos of a lost attempt this worker ran before the set */
  compensated: string[];
  leftBehind: string[];
}

export interface SetWorkerOptions {
  /** stop: the set in hand is finished, then the worker ends */
  signal: AbortSignal;
  /** sets this worker runs at once; default 1 */
  concurrency?: number;
  hooks?: BackupHooks;
}

/**
 * `hvsnap worker`: pulls volume sets from the BullMQ queue and runs each through this proxy, with
 * the limits per host, array and proxy held across every worker by Redis semaphores. BullMQ renews
 * the set's lock while the set runs; a worker that dies stops renewing, BullMQ's stalled check puts
 * the set back, and the next worker first replays the dead attempt's journal (kept in the
 * repository, which every worker reads) and skips VMs that attempt already committed, so no VM gets
 * two restore points from one batch. A worker that learns its lock is gone aborts its set (its saga
 * compensates). Resolves when `signal` fires (after the set in hand) or Redis is lost.
 */
export async function runSetWorker(
  env: BackupEnvironment,
  queue: BullmqQueueConfig,
  options: SetWorkerOptions,
): Promise<{ sets: number; stoppedBy: 'signal' | 'redis' }> {
  await checkRedis(queue);
  const log = env.logger.child({ worker: `${hostname()}:${process.pid}` });
  // connections we pass in are ours to close (BullMQ closes only those it made)
  const redis = connectRedis(queue);
  const workerConnection = connectRedis(queue);
  const aborts = new Map<string, AbortController>();
  // the sets this worker runs at once share the proxy's host object: the last one done removes a host they made
  const hostLeases = new HostLeases();
  let sets = 0;
  const worker = new Worker<SetJobData, SetJobResult>(
    queue.name,
    async (job) => {
      const abort = new AbortController();
      aborts.set(job.id!, abort);
      try {
        const result = await runSetJob(env, { redis, queue, hostLeases }, job, abort.signal, options.hooks);
        sets++;
        return result;
      } finally {
        aborts.delete(job.id!);
      }
    },
    {
      connection: workerConnection,
      concurrency: options.concurrency ?? 1,
      lockDuration: queue.lockDurationMs,
      stalledInterval: queue.stalledIntervalMs,
      // a set whose worker died goes back to the queue (twice at most), then fails
      maxStalledCount: 2,
    },
  );
  // the lock is gone (another worker may have the set now): stop at once; the saga undoes what this attempt did
  worker.on('lockRenewalFailed', (ids) => {
    for (const id of ids) aborts.get(id)?.abort(new Error(`lost the lock on ${id}`));
    log.error({ jobs: ids }, 'lost the lock on a volume set; it is aborted here and retried by another worker');
  });
  const { state, stopped } = whenStopped(worker, options.signal, queue, log);
  log.info({ queue: queue.name, redis: redisWhere(queue), proxy: env.proxyHost.name }, 'worker started');
  await stopped;
  const { stoppedBy } = state;
  await Promise.race([worker.close(), new Promise((r) => setTimeout(r, stoppedBy === 'redis' ? queue.lockDurationMs : 2 ** 31 - 1).unref())]);
  if (stoppedBy === 'redis') await worker.disconnect().catch(() => undefined);
  redis.disconnect();
  workerConnection.disconnect();
  log.info({ sets, stoppedBy }, 'worker stopped');
  return { sets, stoppedBy };
}

/** One set on this worker: compensate a lost attempt, skip what it committed, run the rest. */
async function runSetJob(
  env: BackupEnvironment,
  { redis, queue, hostLeases }: { redis: Redis; queue: BullmqQueueConfig; hostLeases: HostLeases },
  job: Job<SetJobData, SetJobResult>,
  signal: AbortSignal,
  hooks?: BackupHooks,
): Promise<SetJobResult> {
  const { batchId, set, policy } = job.data;
  const log = env.logger.child({ batch: batchId, set: set.index });
  const journalDir = join(env.repository.path, '.journal');
  const vmIds = new Set(set.vms.map((v) => v.id));
  const ofThisBatch = (jobId: string) => jobId === batchId || jobId.startsWith(`${batchId}-r`);

  const { hypervisor, provider, copySlots } = limitedSeams(env, redis, queue, job.data, signal);
  // 1. a lost attempt of this set: we hold its lock now, so whatever its journal owes is ours to undo
  const { lost, compensated } = await compensateLostAttempts(env, { hypervisor, provider, hostLeases }, { journalDir, batchId, set, vmIds, ofThisBatch }, log);

  // 2. VMs the lost attempt committed keep that restore point
  const points = (await env.repository.listRestorePoints()).filter((p) => ofThisBatch(p.jobId) && vmIds.has(p.vm.id));
  const earlier = earlierResults(points, []).map((v) => ({ ...v, set: set.index }));
  const remaining = set.vms.filter((v) => !points.some((p) => p.vm.id === v.id));

  // 3. the rest, under names of its own when this is a retry
  const retry = lost.length > 0 || points.length > 0 || job.attemptsStarted > 1 || job.stalledCounter > 0;
  const jobId = retry ? `${batchId}-r${randomBytes(2).toString('hex')}` : batchId;
  const worker = { host: hostname(), pid: process.pid, proxy: env.proxyHost.name };
  const setReport = setReportOf(set);
  if (remaining.length === 0) return { jobId, set: setReport, vms: earlier, worker, compensated, leftBehind: [] };

  const { result, leftBehind } = await backupRemaining({
    env,
    hypervisor,
    provider,
    log,
    journalDir,
    jobId,
    set,
    remaining,
    policy,
    signal,
    hooks,
    copySlots,
    hostLeases,
  });
  return { jobId, set: { ...result.set, vms: setReport.vms }, vms: [...earlier, ...result.vms], worker, compensated, leftBehind };
}

/** The seams of one set within the limits per host, array and proxy shared by all workers (Redis semaphores). */
function limitedSeams(env: BackupEnvironment, redis: Redis, queue: BullmqQueueConfig, data: SetJobData, signal: AbortSignal) {
  const { policy, limits, hosts } = data;
  // every host and array call of this set, compensation included, within the limits shared by all workers
  const slots = (kind: 'host' | 'array' | 'proxy', name: string, limit: number) =>
    new RedisSemaphore(redis, slotKey(queue.name, kind, name), { limit, ttlMs: queue.slotTtlMs, signal }).asLimit();
  const hypervisor = limits.perHost
    ? limitHypervisor(
        env.hypervisor,
        (id) => hosts[id],
        limits.perHost,
        (host) => slots('host', host, limits.perHost!),
      ).hypervisor
    : env.hypervisor;
  const provider = limits.perArray ? limitProvider(env.provider, slots('array', env.provider.name, limits.perArray)) : env.provider;
  const copySlots = limits.perProxy ? slots('proxy', env.proxyHost.name, limits.perProxy) : createLimit(policy.copyConcurrency);
  return { hypervisor, provider, copySlots };
}

/** Resolves when `signal` fires, or when the worker loses Redis; `state.stoppedBy` says which. */
function whenStopped(
  worker: Worker<SetJobData, SetJobResult>,
  signal: AbortSignal,
  queue: BullmqQueueConfig,
  log: Logger,
): { state: { stoppedBy: 'signal' | 'redis' }; stopped: Promise<void> } {
  const state: { stoppedBy: 'signal' | 'redis' } = { stoppedBy: 'signal' };
  const stopped = new Promise<void>((resolve) => {
    signal.addEventListener('abort', () => resolve(), { once: true });
    worker.on('error', (e) => {
      // Redis is gone: the set in hand finishes (its lock may lapse; a retry skips what it committed), then the worker stops
      if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed/.test(String((e as Error).message))) {
        state.stoppedBy = 'redis';
        log.error({ redis: redisWhere(queue), error: errorSummary(e) }, 'Redis is not reachable: finishing the set in hand, then stopping');
        resolve();
      }
    });
  });
  return { state, stopped };
}

/**
 * Undoes what lost attempts of this set left: their journals' pending undos, and checkpoints of the
 * batch on the set's VMs (one made just before its journal line was written). Returns the lost
 * attempts' journals and what was undone.
 */
async function compensateLostAttempts(
  env: BackupEnvironment,
  seams: { hypervisor: BackupEnvironment['hypervisor']; provider: BackupEnvironment['provider']; hostLeases: HostLeases },
  where: { journalDir: string; batchId: string; set: VolumeSet; vmIds: Set<string>; ofThisBatch: (jobId: string) => boolean },
  log: Logger,
): Promise<{ lost: Awaited<ReturnType<typeof readOpenJournals>>; compensated: string[] }> {
  const { hypervisor, provider, hostLeases } = seams;
  const { journalDir, batchId, set, vmIds, ofThisBatch } = where;
  const compensated: string[] = [];
  // a host a set of this worker still uses is left to its last user (host-leases.ts)
  const plain = backupUndoTargets({ ...env, hypervisor, provider }, hostLeases);
  // (an attempt whose process still runs on this host is not lost: it lost its lock and is undoing its own work)
  const lost = (await readOpenJournals(journalDir)).filter(
    (j) => j.set === set.index && ofThisBatch(j.jobId) && !(j.owner.alive && j.owner.host === hostname()),
  );
  for (const j of lost) {
    for (const u of j.pending) {
      const note = await runUndo(u.record, plain);
      compensated.push(`${j.jobId} (pid ${j.owner.pid} on ${j.owner.host}): ${note ?? describeUndo(u.record)}`);
    }
    await rm(j.file, { force: true });
  }
  // a checkpoint made just before its journal line was written is found by name
  const { checkpoints } = await hypervisor.listLeftovers({ tagPrefix: `hvsnap:${batchId}` });
  for (const cp of checkpoints.filter((c) => vmIds.has(c.vmId))) {
    await hypervisor.deleteCheckpoint({ vmId: cp.vmId, checkpointId: cp.id });
    compensated.push(`stray checkpoint ${cp.name} of VM ${cp.vmName}`);
  }
  if (compensated.length) log.warn({ compensated }, `volume set ${set.index}: undid what a lost attempt left`);
  return { lost, compensated };
}

/** The set's remaining VMs under `jobId`, through a journaled saga that undoes what a throw leaves. */
async function backupRemaining(args: {
  env: BackupEnvironment;
  hypervisor: BackupEnvironment['hypervisor'];
  provider: BackupEnvironment['provider'];
  log: Logger;
  journalDir: string;
  jobId: string;
  set: VolumeSet;
  remaining: VolumeSet['vms'];
  policy: BackupPolicy;
  signal: AbortSignal;
  hooks?: BackupHooks;
  copySlots: Limit;
  hostLeases: HostLeases;
}): Promise<{ result: Awaited<ReturnType<typeof backupSet>>; leftBehind: string[] }> {
  const { env, hypervisor, provider, log, journalDir, jobId, set, remaining, policy, signal, hooks, copySlots, hostLeases } = args;
  const setEnv = { ...env, hypervisor, provider, logger: log };
  env.repository.warmUp();
  const journal = await Journal.open(journalDir, jobId, { set: set.index });
  const saga = new Saga(backupUndoTargets(setEnv, hostLeases), journal, log);
  let result: Awaited<ReturnType<typeof backupSet>>;
  try {
    result = await backupSet({ env: setEnv, policy, options: { signal, hooks }, jobId, saga, copySlots, hostLeases }, { ...set, vms: remaining });
  } catch (e) {
    await saga.compensate();
    throw e;
  } finally {
    await journal.end(log);
  }
  const leftBehind = saga.leftBehind.map(describeUndo);
  if (leftBehind.length === 0) await journal.close();
  return { result, leftBehind };
}
