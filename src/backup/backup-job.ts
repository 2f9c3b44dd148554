import { createLimit, type Limit } from '../core/concurrency.js';
import { errorSummary, HvsnapError, isAbortError, throwIfAborted } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { CHECKPOINT_TAG, checkpointName, jobIdOfCheckpoint, journalDir, newJobId } from '../core/names.js';
import type { VmInfo } from '../core/types.js';
import { backupSet } from './backup-set.js';
import { jobThrottle } from './job-throttle.js';
import { HostLeases } from './host-leases.js';
import { Journal, readOpenJournals } from './journal.js';
import { limitHypervisor, limitProvider, type ConcurrencyLimits, type LimitStats } from './limits.js';
import { planSets } from './host-plan.js';
import type { VolumeSet } from './plan.js';
import { buildReport, markInterrupted, type SetResult } from './backup-report.js';
import { Saga } from './saga.js';
import { defaultPolicy, type BackupEnvironment, type BackupOptions, type BackupPolicy, type BackupReport } from './types.js';
import { backupUndoTargets, describeUndo, type UndoRecord } from './undo.js';
import { InProcessQueue } from './work-queue.js';

export { newJobId } from '../core/names.js';

/** The tag every checkpoint and reference point of hvsnap carries, followed by the job id (see core/names.ts). */
export const HVSNAP_TAG = CHECKPOINT_TAG;

/**
 * The offload backup (DESIGN.md, steps 1–8) of the selected VMs: planned into volume sets, one
 * array snapshot per set, checkpoints that end before any disk byte is copied, a restore point per
 * VM committed only when durable. Returns a report; throws only when nothing could start (bad
 * selection, unreachable host) or the run was aborted. Per-VM and per-set failures are in the
 * report, cleaned up.
 */
export async function runBackup(env: BackupEnvironment, options: BackupOptions = {}): Promise<BackupReport> {
  const started = Date.now();
  const policy = { ...defaultPolicy, ...options.policy };
  const jobId = options.jobId ?? newJobId();
  const log = env.logger.child({ job: jobId });
  // the codec workers start while the checkpoints, snapshot and export run, not at the first chunk
  env.repository.warmUp();
  const journalFolder = options.journalDir ?? journalDir(env.repository.path);
  const { vms, allVms } = await selectForBackup(env, options, journalFolder, log);
  const groups = await env.hypervisor.listVmGroups({}, { signal: options.signal });
  throwIfAborted(options.signal);
  const plan = await planSets({ hypervisor: env.hypervisor, provider: env.provider, vms, groups, allVms, policy }, { signal: options.signal });
  log.info(
    {
      sets: plan.sets.length,
      hostSets: plan.sets.filter((s) => s.mode === 'host').length,
      vms: plan.sets.reduce((n, s) => n + s.vms.length, 0),
      unplaced: plan.unplaced.length,
    },
    'backup planned',
  );

  const journal = await Journal.open(journalFolder, jobId);
  const limited = limitEnvironment(env, allVms, options.limits ?? {}, policy.copyConcurrency);
  const run = await runSets({
    env: limited.env,
    policy,
    options,
    jobId,
    journal,
    log,
    copySlots: limited.copySlots,
    // one read-rate cap for the whole job, shared by the disks copied at once
    throttle: jobThrottle(policy.throttleBytesPerSec),
    setSlots: limited.setSlots,
    sets: plan.sets,
  });
  await journal.end(log);
  // what could not be undone stays journaled: `hvsnap cleanup` finishes it
  if (run.leftBehind.length === 0) await journal.close();
  if (run.thrown) throw run.thrown;

  const report = buildReport({ jobId, started, plan, results: run.results, leftBehind: run.leftBehind.map(describeUndo), concurrency: limited.peaks() });
  if (options.signal?.aborted) markInterrupted(report, run.notStarted);
  if (report.leftBehind!.length > 0) log.error({ leftBehind: report.leftBehind, journal: journal.file }, 'the job left things behind; run "hvsnap cleanup"');
  log.info({ ...report.totals, ok: report.ok, durationMs: report.durationMs }, 'backup finished');
  return report;
}

/**
 * The VMs to back up. The host's VMs are listed once (over SSH to every node on a cluster); again
 * only when a dead job's checkpoint was merged first, which moves the disks' paths.
 */
async function selectForBackup(
  env: BackupEnvironment,
  options: BackupOptions,
  journalFolder: string,
  log: Logger,
): Promise<{ vms: VmInfo[]; allVms: VmInfo[] }> {
  let allVms = await env.hypervisor.listVms({}, { signal: options.signal });
  let vms = pickVms(allVms, options);
  if (vms.length === 0) throw new HvsnapError('vm_not_found', 'the host has no VMs to back up', { context: { field: 'vms' } });
  // a dead job's checkpoint would block a new one and hide the base disk's path: merge it first, then look again
  if (
    await removeStaleCheckpoints(
      env,
      vms.map((v) => v.id),
      journalFolder,
      log,
    )
  ) {
    allVms = await env.hypervisor.listVms({}, { signal: options.signal });
    vms = pickVms(allVms, { vmIds: vms.map((v) => v.id) });
  }
  return { vms, allVms };
}

/** The seams wrapped in the run's concurrency limits, the shared slots, and the peaks each limit saw. */
function limitEnvironment(env: BackupEnvironment, allVms: VmInfo[], limits: ConcurrencyLimits, copyConcurrency: number) {
  const hostOf = new Map(allVms.map((v) => [v.id, v.host]));
  const hostLimited = limits.perHost ? limitHypervisor(env.hypervisor, (id) => hostOf.get(id), limits.perHost) : undefined;
  const arraySlots = limits.perArray ? createLimit(limits.perArray) : undefined;
  const copySlots = createLimit(limits.perProxy ?? copyConcurrency);
  const setSlots = createLimit(limits.sets ?? 1);
  return {
    env: { ...env, hypervisor: hostLimited?.hypervisor ?? env.hypervisor, provider: arraySlots ? limitProvider(env.provider, arraySlots) : env.provider },
    copySlots,
    setSlots,
    peaks: (): LimitStats => ({ sets: setSlots.peak, perHost: hostLimited?.peaks() ?? {}, perArray: arraySlots?.peak ?? 0, perProxy: copySlots.peak }),
  };
}

/**
 * The volume sets through workers that pull them from the queue, `setSlots` at once. An abort
 * starts no further set (no more checkpoints on production VMs). Every worker runs to its end,
 * even when one threw; what a set could not undo is collected for the journal and the report.
 */
async function runSets(args: {
  env: BackupEnvironment;
  policy: BackupPolicy;
  options: BackupOptions;
  jobId: string;
  journal: Journal;
  log: Logger;
  copySlots: Limit;
  throttle?: ReturnType<typeof jobThrottle>;
  setSlots: Limit;
  sets: VolumeSet[];
}): Promise<{ results: SetResult[]; leftBehind: UndoRecord[]; notStarted: VolumeSet[]; thrown?: unknown }> {
  const { env, options, journal, log } = args;
  const signal = options.signal;
  // one host object for every set of the run: removed (if the run made it) when the last is done with it
  const hostLeases = new HostLeases();
  const targets = backupUndoTargets(env, hostLeases);
  const queue = options.queue ?? new InProcessQueue<VolumeSet>();
  await queue.push(args.sets);
  const results: SetResult[] = [];
  const leftBehind: UndoRecord[] = [];
  const notStarted: VolumeSet[] = [];
  const worker = async () => {
    for (let set = await queue.pull(); set; set = await queue.pull()) {
      const current = set;
      if (signal?.aborted) {
        // cancelled: no further set is started (no more checkpoints on production VMs); the report says which
        await queue.fail(current, signal.reason);
        notStarted.push(current);
        continue;
      }
      await args.setSlots(async () => {
        const saga = new Saga(targets, journal, log);
        try {
          const result = await backupSet(
            { env, policy: args.policy, options, jobId: args.jobId, saga, copySlots: args.copySlots, throttle: args.throttle, hostLeases },
            current,
          );
          results.push(result);
          await (result.set.status === 'ok' ? queue.ack(current) : queue.fail(current, result.set.error));
        } catch (e) {
          // backupSet reports failures; anything thrown here is a bug: compensate and keep the others going
          await saga.compensate();
          await queue.fail(current, e);
          throw e;
        } finally {
          leftBehind.push(...saga.leftBehind);
        }
      });
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: args.setSlots.concurrency }, worker));
  // an abort thrown out of a set is the interruption the report states, not a failure of the job
  const thrown = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(signal?.aborted && isAbortError(r.reason)));
  return { results, leftBehind, notStarted, thrown: thrown?.reason };
}

/**
 * Recovery checkpoints a dead hvsnap job left on these VMs would block new ones: merge them first.
 * A checkpoint of a job that still runs (its journal's owner is alive) is left alone.
 * Returns whether anything was removed.
 */
async function removeStaleCheckpoints(env: BackupEnvironment, vmIds: string[], journalDir: string, log: BackupEnvironment['logger']): Promise<boolean> {
  const { checkpoints } = await env.hypervisor.listLeftovers({ tagPrefix: CHECKPOINT_TAG });
  const live = new Set((await readOpenJournals(journalDir)).filter((j) => j.owner.alive).map((j) => checkpointName(j.jobId)));
  let removed = false;
  for (const cp of checkpoints.filter((c) => vmIds.includes(c.vmId))) {
    if (live.has(cp.name)) {
      throw new HvsnapError('vm_in_use', `VM ${cp.vmName} is being backed up by job ${jobIdOfCheckpoint(cp.name)}, which is still running`, {
        retryable: true,
        context: { vm: cp.vmName },
      });
    }
    log.warn({ vm: cp.vmName, checkpoint: cp.name }, `removing a stale hvsnap checkpoint of VM ${cp.vmName} left by an earlier job`);
    await env.hypervisor
      .deleteCheckpoint({ vmId: cp.vmId, checkpointId: cp.id })
      .catch((e) => log.error({ error: errorSummary(e) }, 'could not remove a stale checkpoint'));
    removed = true;
  }
  return removed;
}

/**
 * The VMs to back up, from the host's list: by id (`vmIds`, which wins), by name (`vms`: a name may
 * also be an id; no match is `vm_not_found`, two VMs with the name `vm_ambiguous`), else all.
 */
function pickVms(all: VmInfo[], options: Pick<BackupOptions, 'vms' | 'vmIds'>): VmInfo[] {
  if (options.vmIds?.length) {
    const byId = new Map(all.map((v) => [v.id, v]));
    return options.vmIds.map((id) => byId.get(id) ?? notFound(id, `VM ${id} not found on the host`));
  }
  if (!options.vms?.length) return all;
  return options.vms.map((name) => {
    const byId = all.find((v) => v.id === name);
    if (byId) return byId;
    const hits = all.filter((v) => v.name === name);
    if (hits.length > 1)
      throw new HvsnapError('vm_ambiguous', `${hits.length} VMs are named "${name}" (${hits.map((h) => `${h.id} on ${h.host}`).join(', ')}); use the VM id`, {
        context: { vm: name },
      });
    return hits[0] ?? notFound(name, `VM "${name}" not found on the host`);
  });
}

function notFound(vm: string, message: string): never {
  throw new HvsnapError('vm_not_found', message, { context: { vm } });
}
