import { CHECKPOINT_TAG, checkpointName, jobIdOfCheckpoint, journalDir, newJobId } from '../core/names.js';

export { newJobId } from '../core/names.js';
import { errorSummary, HvsnapError, throwIfAborted } from '../core/errors.js';
import { backupSet } from './backup-set.js';
import { Journal, readOpenJournals } from './journal.js';
import { limitHypervisor, limitProvider } from './limits.js';
import { createLimit } from '../core/concurrency.js';
import { planSets } from './host-plan.js';
import type { VolumeSet } from './plan.js';
import { InProcessQueue } from './work-queue.js';
import { Saga } from './saga.js';
import type { VmInfo } from '../core/types.js';
import { defaultPolicy, type BackupEnvironment, type BackupOptions, type BackupReport } from './types.js';
import { describeUndo, type UndoRecord, type UndoTargets } from './undo.js';

/** The tag every checkpoint and reference point of hvsnap carries, followed by the job id (see core/names.ts). */
export const HVSNAP_TAG = CHECKPOINT_TAG;

/**
 * The offload backup (DESIGN.md, steps 1–8) of the selected VMs: planned into volume sets, one
 * array snapshot per set, checkpoints that end before any disk byte is copied, a restore point per
 * VM committed only when durable. Returns a report; throws only when nothing could start (bad
 * selection, unreachable host). Per-VM and per-set failures are in the report, cleaned up.
 */
export async function runBackup(env: BackupEnvironment, options: BackupOptions = {}): Promise<BackupReport> {
  const started = Date.now();
  const policy = { ...defaultPolicy, ...options.policy };
  const jobId = options.jobId ?? newJobId();
  const log = env.logger.child({ job: jobId });
  const signal = options.signal;

  const journalFolder = options.journalDir ?? journalDir(env.repository.path);
  // the VMs are listed once (over SSH to every node on a cluster); again only when a stale checkpoint was merged, which moves disk paths
  let allVms = await env.hypervisor.listVms({}, { signal });
  let vms = pickVms(allVms, options);
  if (vms.length === 0) throw new HvsnapError('vm_not_found', 'the host has no VMs to back up', { context: { field: 'vms' } });
  // a dead job's checkpoint would block a new one and hide the base disk's path: merge it first, then look again
  if (await removeStaleCheckpoints(env, vms.map((v) => v.id), journalFolder, log)) {
    allVms = await env.hypervisor.listVms({}, { signal });
    vms = pickVms(allVms, { vmIds: vms.map((v) => v.id) });
  }
  const groups = await env.hypervisor.listVmGroups({}, { signal });
  throwIfAborted(signal);
  const plan = await planSets({ hypervisor: env.hypervisor, provider: env.provider, vms, groups, allVms, policy }, { signal });
  log.info({ sets: plan.sets.length, hostSets: plan.sets.filter((s) => s.mode === 'host').length, vms: plan.sets.reduce((n, s) => n + s.vms.length, 0), unplaced: plan.unplaced.length }, 'backup planned');

  const journal = await Journal.open(journalFolder, jobId);
  // writers of this process; after a crash, an uncommitted restore point is only a temp folder that gc removes
  const writers = new Map<string, { abort(): Promise<void> }>();
  const targets: UndoTargets = {
    hypervisor: env.hypervisor,
    provider: env.provider,
    proxy: env.proxy,
    abortRestorePoint: async (id) => {
      await writers.get(id)?.abort();
      writers.delete(id);
    },
  };
  const report: BackupReport = {
    jobId,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    snapshotSets: 0,
    sets: [],
    vms: [],
    totals: { vms: 0, ok: 0, failed: 0, bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0 },
    ok: false,
  };
  const limits = options.limits ?? {};
  const hostOf = new Map(allVms.map((v) => [v.id, v.host]));
  const hostLimited = limits.perHost ? limitHypervisor(env.hypervisor, (id) => hostOf.get(id), limits.perHost) : undefined;
  const arraySlots = limits.perArray ? createLimit(limits.perArray) : undefined;
  const copySlots = createLimit(limits.perProxy ?? policy.copyConcurrency);
  const setSlots = createLimit(limits.sets ?? 1);
  const setEnv = {
    ...env,
    hypervisor: hostLimited?.hypervisor ?? env.hypervisor,
    provider: arraySlots ? limitProvider(env.provider, arraySlots) : env.provider,
  };
  const queue = options.queue ?? new InProcessQueue<VolumeSet>();
  await queue.push(plan.sets);
  const results: Array<Awaited<ReturnType<typeof backupSet>>> = [];
  const leftBehindRecords: UndoRecord[] = [];
  const worker = async () => {
    for (let set = await queue.pull(); set; set = await queue.pull()) {
      const current = set;
      if (signal?.aborted) {
        // cancelled: no further set is started (no more checkpoints on production VMs)
        await queue.fail(current, signal.reason);
        throwIfAborted(signal);
      }
      await setSlots(async () => {
        const saga = new Saga({ ...targets, hypervisor: setEnv.hypervisor, provider: setEnv.provider }, journal, log);
        try {
          const result = await backupSet({ env: setEnv, policy, options, jobId, saga, writers, copySlots }, current);
          results.push(result);
          await (result.set.status === 'ok' ? queue.ack(current) : queue.fail(current, result.set.error));
        } catch (e) {
          // backupSet reports failures; anything thrown here is a bug or an abort: compensate and keep the others going
          await saga.compensate();
          await queue.fail(current, e);
          throw e;
        } finally {
          leftBehindRecords.push(...saga.leftBehind);
        }
      });
    }
  };
  // every worker runs to its end before the job ends, even when one of them threw
  const settled = await Promise.allSettled(Array.from({ length: limits.sets ?? 1 }, worker));
  const thrown = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (thrown) {
    await journal.append({ t: 'end', at: new Date().toISOString() });
    if (leftBehindRecords.length === 0) await journal.close();
    throw thrown.reason;
  }
  for (const u of plan.unplaced) {
    report.vms.push({ vm: u.vm.name, vmId: u.vm.id, set: 0, status: 'failed', step: 'plan', error: { code: u.error.code, message: u.error.message }, disks: [], bytesRead: 0, bytesWritten: 0, chunksNew: 0, chunksReused: 0, durationMs: 0 });
  }
  results.sort((a, b) => a.set.index - b.set.index);
  for (const result of results) {
    report.sets.push(result.set);
    report.vms.push(...result.vms);
    if (result.set.snapshot) report.snapshotSets++;
  }
  report.concurrency = {
    sets: setSlots.peak,
    perHost: hostLimited?.peaks() ?? {},
    perArray: arraySlots?.peak ?? 0,
    perProxy: copySlots.peak,
  };
  for (const v of report.vms) {
    report.totals.vms++;
    report.totals[v.status === 'ok' ? 'ok' : 'failed']++;
    for (const k of ['bytesRead', 'bytesWritten', 'chunksNew', 'chunksReused'] as const) report.totals[k] += v[k];
  }
  report.leftBehind = leftBehindRecords.map(describeUndo);
  report.ok = report.totals.failed === 0 && report.leftBehind.length === 0;
  report.durationMs = Date.now() - started;
  await journal.append({ t: 'end', at: new Date().toISOString() });
  // what could not be undone stays journaled: `hvsnap cleanup` finishes it
  if (leftBehindRecords.length === 0) await journal.close();
  else log.error({ leftBehind: report.leftBehind, journal: journal.file }, 'the job left things behind; run "hvsnap cleanup"');
  log.info({ ...report.totals, ok: report.ok, durationMs: report.durationMs }, 'backup finished');
  return report;
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
      throw new HvsnapError('vm_in_use', `VM ${cp.vmName} is being backed up by job ${jobIdOfCheckpoint(cp.name)}, which is still running`, { retryable: true, context: { vm: cp.vmName } });
    }
    log.warn({ vm: cp.vmName, checkpoint: cp.name }, `removing a stale hvsnap checkpoint of VM ${cp.vmName} left by an earlier job`);
    await env.hypervisor.deleteCheckpoint({ vmId: cp.vmId, checkpointId: cp.id }).catch((e) => log.error({ error: errorSummary(e) }, 'could not remove a stale checkpoint'));
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
    if (hits.length > 1) throw new HvsnapError('vm_ambiguous', `${hits.length} VMs are named "${name}" (${hits.map((h) => `${h.id} on ${h.host}`).join(', ')}); use the VM id`, { context: { vm: name } });
    return hits[0] ?? notFound(name, `VM "${name}" not found on the host`);
  });
}

function notFound(vm: string, message: string): never {
  throw new HvsnapError('vm_not_found', message, { context: { vm } });
}
