import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { errorSummary, HvsnapError } from '../core/errors.js';
import { backupSet } from './backup-set.js';
import { Journal } from './journal.js';
import { limitHypervisor, limitProvider, Semaphore } from './limits.js';
import { planBackup, type VolumeSet } from './plan.js';
import { InProcessQueue } from './work-queue.js';
import { Saga } from './saga.js';
import { defaultPolicy, type BackupEnvironment, type BackupOptions, type BackupReport } from './types.js';
import type { UndoTargets } from './undo.js';

/** The tag every checkpoint and reference point of hvsnap carries, followed by the job id. */
export const HVSNAP_TAG = 'hvsnap:';

/** A job id that sorts by time and is safe in every array's object names. */
export function newJobId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').replace('T', '-');
  return `${t}-${randomBytes(2).toString('hex')}`;
}

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

  const allVms = await env.hypervisor.listVms({}, { signal });
  const vms = options.vms?.length ? await env.hypervisor.listVms({ names: options.vms }, { signal }) : allVms;
  if (vms.length === 0) throw new HvsnapError('vm_not_found', 'the host has no VMs to back up', { context: { field: 'vms' } });
  const groups = await env.hypervisor.listVmGroups({}, { signal });
  const plan = await planBackup({ hypervisor: env.hypervisor, vms, groups, allVms }, { signal });
  log.info({ sets: plan.sets.length, vms: plan.sets.reduce((n, s) => n + s.vms.length, 0) }, 'backup planned');

  await removeStaleCheckpoints(env, plan.sets.flatMap((s) => s.vms.map((v) => v.id)), log);

  const journal = await Journal.open(options.journalDir ?? join(env.repository.path, '.journal'), jobId);
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
  let leftBehind = 0;
  const limits = options.limits ?? {};
  const hostOf = new Map(allVms.map((v) => [v.id, v.host]));
  const hostLimited = limits.perHost ? limitHypervisor(env.hypervisor, (id) => hostOf.get(id), limits.perHost) : undefined;
  const arraySlots = limits.perArray ? new Semaphore(limits.perArray) : undefined;
  const copySlots = new Semaphore(limits.perProxy ?? policy.copyConcurrency);
  const setSlots = new Semaphore(limits.sets ?? 1);
  const setEnv = {
    ...env,
    hypervisor: hostLimited?.hypervisor ?? env.hypervisor,
    provider: arraySlots ? limitProvider(env.provider, arraySlots) : env.provider,
  };
  const queue = options.queue ?? new InProcessQueue<VolumeSet>();
  await queue.push(plan.sets);
  const results: Array<Awaited<ReturnType<typeof backupSet>>> = [];
  const worker = async () => {
    for (let set = await queue.pull(); set; set = await queue.pull()) {
      const current = set;
      await setSlots.use(async () => {
        const saga = new Saga({ ...targets, hypervisor: setEnv.hypervisor, provider: setEnv.provider }, journal, log);
        try {
          const result = await backupSet({ env: setEnv, policy, options, jobId, saga, writers, copySlots }, current);
          leftBehind += saga.pending;
          results.push(result);
          await (result.set.status === 'ok' ? queue.ack(current) : queue.fail(current, result.set.error));
        } catch (e) {
          // backupSet reports failures; anything thrown here is a bug or an abort: compensate and keep the others going
          leftBehind += (await saga.compensate()).length;
          await queue.fail(current, e);
          throw e;
        }
      });
    }
  };
  await Promise.all(Array.from({ length: limits.sets ?? 1 }, worker));
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
  report.ok = report.totals.failed === 0;
  report.durationMs = Date.now() - started;
  await journal.append({ t: 'end', at: new Date().toISOString() });
  if (leftBehind === 0) await journal.close();
  log.info({ ...report.totals, ok: report.ok, durationMs: report.durationMs }, 'backup finished');
  return report;
}

/** Recovery checkpoints hvsnap left on these VMs (a crashed job) would block new ones: merge them first. */
async function removeStaleCheckpoints(env: BackupEnvironment, vmIds: string[], log: BackupEnvironment['logger']): Promise<void> {
  const { checkpoints } = await env.hypervisor.listLeftovers({ tagPrefix: HVSNAP_TAG });
  for (const cp of checkpoints.filter((c) => vmIds.includes(c.vmId))) {
    log.warn({ vm: cp.vmName, checkpoint: cp.name }, `removing a stale hvsnap checkpoint of VM ${cp.vmName} left by an earlier job`);
    await env.hypervisor.deleteCheckpoint({ vmId: cp.vmId, checkpointId: cp.id }).catch((e) => log.error({ error: errorSummary(e) }, 'could not remove a stale checkpoint'));
  }
}
