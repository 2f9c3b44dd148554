import { afterEach, describe, expect, it, vi } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { readOpenJournals } from '../../src/backup/journal.js';
import { describeUndo, runUndo, type UndoRecord } from '../../src/backup/undo.js';
import { journalDir } from '../../src/core/names.js';
import { parseJobConfig } from '../../src/job/config.js';
import { policyFromConfig } from '../../src/job/policy.js';
import { providerError } from '../../providers/sdk/errors.js';
import type { HostHandle, Provider } from '../../providers/sdk/provider.js';
import type { CallOptions } from '../../src/core/types.js';
import type { StepName } from '../../src/backup/types.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { journalDiskFull } from '../helpers/journal-full.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { join } from 'node:path';

let env: LabEnv | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await env?.cleanup();
  env = undefined;
});

/**
 * The lab array, except that it keeps host objects for the proxy, as a SAN array does: found by
 * findHost (unless `findHost: false`, a provider that cannot look hosts up), made by ensureHost.
 * `existing`: the host is there before the run; `lostAnswer`: ensureHost makes it but answers as a
 * retry told "already exists" would; `dieInCreate`: ensureHost makes it and never answers (until the run is stopped): every time, or the
 * Nth time it makes one.
 * `presentedWithoutHost`: presents made while the array had no host for the proxy (a SAN driver would make
 * one there that nothing tracks); `deleted`: resolves at the first snapshot deleted (a set's undo is over).
 */
function withHosts(
  lab: Provider,
  opts: { existing?: boolean; findHost?: boolean; stillMapped?: boolean; lostAnswer?: boolean; dieInCreate?: boolean | number } = {},
) {
  const hosts = new Map<string, HostHandle>(opts.existing ? [['proxy1', { id: 'ig-0', name: 'proxy1', created: false }]] : []);
  const removed: HostHandle[] = [];
  const presentedWithoutHost: string[] = [];
  let snapshotDeleted!: () => void;
  const deleted = new Promise<void>((r) => (snapshotDeleted = r));
  let made = 0;
  // everything else is the lab array's own (its methods may live on a prototype or a wrapper, so inherit rather than spread)
  const provider = Object.assign(Object.create(lab) as Provider, {
    findHost: opts.findHost === false ? undefined : async () => (hosts.has('proxy1') ? { ...hosts.get('proxy1')!, created: false } : undefined),
    ensureHost: async (_args: unknown, { signal }: CallOptions = {}) => {
      if (hosts.has('proxy1')) return { ...hosts.get('proxy1')!, created: false };
      const host = { id: `ig-${++made}`, name: 'proxy1', created: true };
      hosts.set('proxy1', host);
      // never answers; only a stopped run gets its call back (as a timed-out one would)
      if (opts.dieInCreate === true || opts.dieInCreate === made)
        return new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(new Error('ensureHost: aborted'))));
      return opts.lostAnswer ? { ...host, created: false } : host;
    },
    removeHost: async ({ host }: { host: HostHandle }) => {
      if (opts.stillMapped) throw providerError('wrong_state', `host ${host.name} still has LUNs mapped`);
      hosts.delete(host.name);
      removed.push(host);
    },
    present: async (args: Parameters<Provider['present']>[0], o?: CallOptions) => {
      if (!hosts.has('proxy1')) presentedWithoutHost.push(args.name);
      return lab.present(args, o);
    },
    deleteSnapshot: async (args: Parameters<Provider['deleteSnapshot']>[0], o?: CallOptions) => {
      await lab.deleteSnapshot(args, o);
      snapshotDeleted();
    },
  });
  return { provider, removed, hosts, presentedWithoutHost, deleted };
}

/**
 * Two sets of one run (a VM each, `limits.sets` 2) on an array that keeps host objects: the first
 * set makes the proxy's host; the second waits at `lookUpAt` until it is made, and at `resumeAt`
 * until the first set has ended (its snapshot deleted: its undos are done). Checks that both VMs
 * got their restore point, that nothing was presented while the array had no host for the proxy and
 * that no host is left; returns the hosts removed, in order.
 */
async function twoSets(lookUpAt: StepName, resumeAt: StepName): Promise<HostHandle[]> {
  env = await makeLabEnv({ vms: 2, volumes: 2, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
  const hosts = withHosts(env.provider);
  env.provider = hosts.provider;
  const waits = secondWaits(hosts, lookUpAt, resumeAt);
  // what the journal holds of the host when each set presents (the second presents last, once every ensure-host is done):
  // the record ensure-host refined, and no ask it replaced
  const atPresent: UndoRecord[][] = [];
  const beforeStep: typeof waits.beforeStep = async (step, where) => {
    await waits.beforeStep(step, where);
    if (step === 'present') atPresent.push((await pendingUndos(env!, () => true)).filter((r) => r.kind === 'checkHost'));
  };
  const report = await runBackup(env, { limits: { sets: 2 }, hooks: { beforeStep } });
  expect(report.ok, JSON.stringify(report.vms)).toBe(true);
  expect(atPresent).toHaveLength(2);
  expect(atPresent[1]).toEqual([]);
  expect(report.sets).toHaveLength(2);
  expect(hosts.presentedWithoutHost).toEqual([]);
  expect(hosts.hosts.size).toBe(0);
  return hosts.removed;
}

/** The hooks of {@link twoSets}: the second set waits at `lookUpAt` until the host is made, and at `resumeAt` until the first set has ended. */
function secondWaits(hosts: ReturnType<typeof withHosts>, lookUpAt: StepName, resumeAt: StepName) {
  let firstPresents!: () => void;
  const hostMade = new Promise<void>((r) => (firstPresents = r));
  let first: number | undefined;
  return {
    beforeStep: async (step: StepName, { set }: { set: number }) => {
      if (step === lookUpAt) {
        first ??= set;
        if (set !== first) await hostMade;
      }
      if (step === 'present' && set === first) firstPresents();
      if (step === resumeAt && set !== first) await hosts.deleted;
    },
  };
}

const undoTargets = (e: LabEnv) => ({ provider: e.provider, proxy: e.proxy, hypervisor: e.hypervisor, abortRestorePoint: async () => {} });

/** The undo records of the run's open journal, once `ready` holds (polled: the run itself never ends). */
async function pendingUndos(e: LabEnv, ready: (records: UndoRecord[]) => boolean): Promise<UndoRecord[]> {
  for (let i = 0; i < 500; i++) {
    const [journal] = await readOpenJournals(journalDir(e.repository.path));
    const records = journal?.pending.map((u) => u.record) ?? [];
    if (ready(records)) return records;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the journal never held the undo expected');
}

describe('the proxy host on the array', () => {
  it('a host hvsnap made for the run is removed when the set ends; one it found stays; keepHosts keeps it', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    const lab = env.provider;
    const made = withHosts(lab);
    env.provider = made.provider;
    const r0 = await runBackup(env, {});
    expect(r0.ok, JSON.stringify(r0.vms)).toBe(true);
    expect(made.removed).toEqual([{ id: 'ig-1', name: 'proxy1', created: true }]);

    const found = withHosts(lab, { existing: true });
    env.provider = found.provider;
    expect((await runBackup(env, {})).ok).toBe(true);
    expect(found.removed).toEqual([]);

    const kept = withHosts(lab);
    env.provider = kept.provider;
    expect((await runBackup(env, { policy: { keepHosts: true } })).ok).toBe(true);
    expect(kept.removed).toEqual([]);
  });

  it('the job config key proxy.keepHost keeps a host hvsnap made; without it the host is removed', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    const lab = env.provider;
    const config = (proxy: Record<string, unknown>) =>
      parseJobConfig(
        {
          hypervisor: { kind: 'lab', dir: 'lab' },
          provider: { name: 'lab' },
          proxy: { kind: 'local', host: { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] }, ...proxy },
          repository: { path: 'repo' },
        },
        '/etc/hvsnap/job.yaml',
      );
    const kept = withHosts(lab);
    env.provider = kept.provider;
    expect((await runBackup(env, { policy: policyFromConfig(config({ keepHost: true }), false) })).ok).toBe(true);
    expect(kept.removed).toEqual([]);

    const removed = withHosts(lab);
    env.provider = removed.provider;
    expect((await runBackup(env, { policy: policyFromConfig(config({}), false) })).ok).toBe(true);
    expect(removed.removed).toEqual([{ id: 'ig-1', name: 'proxy1', created: true }]);

    expect(() => config({ keepHost: 'yes' })).toThrow(/\/etc\/hvsnap\/job\.yaml.*proxy\.keepHost/);
  });

  it.each([
    ['without proxy.keepHost, its journaled undo removes it', {}, 1],
    ['with proxy.keepHost, its journaled undo keeps it', { keepHost: true }, 0],
  ])('a run that dies after making the host: %s', async (_label, proxy, removedCount) => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20, lockTimeoutMs: 1000 });
    const hosts = withHosts(env.provider);
    env.provider = hosts.provider;
    const config = parseJobConfig(
      { hypervisor: { kind: 'lab', dir: 'lab' }, provider: { name: 'lab' }, proxy: { host: { name: 'proxy1' }, ...proxy }, repository: { path: 'repo' } },
      '/etc/hvsnap/job.yaml',
    );
    let reached!: () => void;
    const atCopy = new Promise<void>((r) => (reached = r));
    void runBackup(env, {
      policy: policyFromConfig(config, false),
      hooks: {
        beforeStep: (step) => {
          if (step !== 'copy') return;
          reached();
          return new Promise<void>(() => {}); // the process "dies" here: the set never ends
        },
      },
    });
    await atCopy;
    expect(hosts.removed).toEqual([]);
    // what `hvsnap cleanup` replays for this job once its process is gone (in-process the owner is alive, so replay by hand)
    const [journal] = await readOpenJournals(journalDir(env.repository.path));
    const undo = journal!.pending.find((u) => u.record.kind === 'removeHost')!;
    expect(undo.record).toMatchObject({ kind: 'removeHost', host: { name: 'proxy1' } });
    // what cleanup and the job history say of it: a kept host is hvsnap's own, not one it found
    expect(describeUndo(undo.record)).toBe(removedCount ? 'remove host proxy1 from the array' : 'keep host proxy1 (made by hvsnap, kept: proxy.keepHost)');
    await runUndo(undo.record, undoTargets(env));
    expect(hosts.removed).toHaveLength(removedCount);
  });

  it('a run that ends while the array makes the host, before the answer, removes nothing it cannot prove its own: cleanup and the rollback name the host for the operator', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20, lockTimeoutMs: 1000 });
    const hosts = withHosts(env.provider, { dieInCreate: true });
    env.provider = hosts.provider;
    const stop = new AbortController();
    const run = runBackup(env, { signal: stop.signal });
    const records = await pendingUndos(env, (rs) => rs.some((r) => r.kind === 'checkHost') && hosts.hosts.size === 1);
    const undo = records.find((r) => r.kind === 'checkHost')!;
    expect(undo).toEqual({ kind: 'checkHost', spec: env.proxyHost, absentBefore: true });
    expect(records.some((r) => r.kind === 'removeHost')).toBe(false); // the answer never came
    expect(describeUndo(undo)).toBe('check whether host proxy-1 was made on the array');
    // what `hvsnap cleanup` replays after a crash: the host the array now has is named, and stays
    expect(await runUndo(undo, undoTargets(env))).toBe(
      "host proxy1 (ig-1) holds the proxy's initiators on the array: none did when a run began making one, and it ended before the array answered; remove it if nothing else is mapped to it and nobody keeps it on purpose",
    );
    // the run itself, stopped while it waits: its rollback removes nothing either
    stop.abort();
    const report = await run;
    expect(report.ok).toBe(false);
    expect(hosts.removed).toEqual([]);
    expect([...hosts.hosts.keys()]).toEqual(['proxy1']);
  });

  it("a host the array says already exists is never this run's to remove (another set or job on the proxy may have made it a moment before)", async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    const hosts = withHosts(env.provider, { lostAnswer: true });
    env.provider = hosts.provider;
    const report = await runBackup(env, {});
    expect(report.ok, JSON.stringify(report.vms)).toBe(true);
    expect(hosts.removed).toEqual([]);
  });

  it('a provider without findHost: a made host is still removed at the end; a run that ends while making one leaves a check for the operator', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20, lockTimeoutMs: 1000 });
    const lab = env.provider;
    const plain = withHosts(lab, { findHost: false });
    env.provider = plain.provider;
    expect((await runBackup(env, {})).ok).toBe(true);
    expect(plain.removed).toEqual([{ id: 'ig-1', name: 'proxy1', created: true }]);

    const dying = withHosts(lab, { findHost: false, dieInCreate: true });
    env.provider = dying.provider;
    const stop = new AbortController();
    const run = runBackup(env, { signal: stop.signal });
    const records = await pendingUndos(env, (rs) => rs.some((r) => r.kind === 'checkHost') && dying.hosts.size === 1);
    const undo = records.find((r) => r.kind === 'checkHost')!;
    expect(undo).toMatchObject({ absentBefore: false });
    expect(await runUndo(undo, undoTargets(env))).toBe(
      'check host proxy-1 on the array: a run ended while the array was making it, and provider "lab" cannot look hosts up; if hvsnap made it, remove it if nothing else is mapped to it and nobody keeps it on purpose',
    );
    stop.abort();
    await run;
    expect(dying.removed).toEqual([]);
  });

  it("a snapshot-only restore gets the proxy's host the same way: one it made is removed after the restore, kept with proxy.keepHost; one it found stays", async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    const lab = env.provider;
    const backup = await runBackup(env, { policy: { mode: 'snapshot-only' } });
    expect(backup.ok, JSON.stringify(backup.vms)).toBe(true);
    const cases = [
      { label: 'made', hosts: withHosts(lab), keepHost: false, removed: [{ id: 'ig-1', name: 'proxy1', created: true }] },
      { label: 'made, kept', hosts: withHosts(lab), keepHost: true, removed: [] },
      { label: 'found', hosts: withHosts(lab, { existing: true }), keepHost: false, removed: [] },
    ];
    for (const c of cases) {
      const restored = await restoreVm({
        repository: env.repository,
        restorePointId: backup.vms[0].restorePointId!,
        targetDir: join(env.dir, 'restored', c.label),
        snapshotAccess: { provider: c.hosts.provider, proxy: env.proxy, proxyHost: env.proxyHost, keepHost: c.keepHost },
      });
      expect(restored.disks[0].verified, c.label).toBe(true);
      expect(c.hosts.removed, c.label).toEqual(c.removed);
    }
  });

  it.each(['ensure-host', 'find-host'] as const)(
    'two sets of one run share the host the run made (the second held at %s): it goes when the last of them is done, not when the set that made it ends',
    async (hold) => {
      // the second set presents only once the first has ended
      expect(await twoSets(hold, 'present')).toEqual([{ id: 'ig-1', name: 'proxy1', created: true }]);
    },
  );

  it('a set that found the host before the set that made it removed it (its last user) asks the array again: it never presents to a host that is gone', async () => {
    // the second set asks for the host only once the first, its only user then, has removed it
    expect(await twoSets('find-host', 'ensure-host')).toEqual([
      { id: 'ig-1', name: 'proxy1', created: true },
      { id: 'ig-2', name: 'proxy1', created: true },
    ]);
  });

  it('a set that asks the array again for a host its process removed journals that ask first: ended before the answer, cleanup and the rollback name the host', async () => {
    env = await makeLabEnv({ vms: 2, volumes: 2, diskSizeBytes: 8 << 20, dataBytes: 1 << 20, lockTimeoutMs: 1000 });
    // the second host the array makes (the second set's ask) never gets its answer back
    const hosts = withHosts(env.provider, { dieInCreate: 2 });
    env.provider = hosts.provider;
    const stop = new AbortController();
    const run = runBackup(env, { signal: stop.signal, limits: { sets: 2 }, hooks: secondWaits(hosts, 'find-host', 'ensure-host') });
    const records = await pendingUndos(env, (rs) => rs.some((r) => r.kind === 'checkHost') && hosts.hosts.size === 1 && hosts.removed.length === 1);
    // the ask for the host the first set removed since, and what the second set found before (and keeps); newest first
    expect(records.filter((r) => r.kind === 'removeHost' || r.kind === 'checkHost')).toEqual([
      { kind: 'checkHost', spec: env.proxyHost, absentBefore: true },
      { kind: 'removeHost', host: { id: 'ig-1', name: 'proxy1', created: false }, created: false },
    ]);
    // what `hvsnap cleanup` replays after a crash: the host the array made then is named, and stays
    expect(
      await runUndo(
        records.find((r) => r.kind === 'checkHost')!,
        undoTargets(env),
      ),
    ).toMatch(/^host proxy1 \(ig-2\) holds the proxy's initiators on the array/);
    stop.abort();
    const report = await run;
    expect(report.ok).toBe(false);
    expect(hosts.removed).toEqual([{ id: 'ig-1', name: 'proxy1', created: true }]);
    expect([...hosts.hosts.values()]).toEqual([{ id: 'ig-2', name: 'proxy1', created: true }]);
  });

  it('a host another set still uses stays, and the backup is still ok', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    env.provider = withHosts(env.provider, { stillMapped: true }).provider;
    const report = await runBackup(env, {});
    expect(report.ok).toBe(true);
  });

  it('a host hvsnap made is still removed when the journal cannot take the record that says so: the set fails, nothing is left on the array', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    const hosts = withHosts(env.provider);
    env.provider = hosts.provider;
    // the disk fills as ensure-host journals what the array answered (a host it made, and this set's lease on it)
    journalDiskFull((entry) => entry.t === 'undo' && entry.record.kind === 'removeHost');
    const report = await runBackup(env, {});
    expect(report.ok).toBe(false);
    expect(report.vms[0]).toMatchObject({ status: 'failed', step: 'ensure-host' });
    expect(report.vms[0].error?.message).toMatch(/ENOSPC/);
    expect(hosts.removed).toEqual([{ id: 'ig-1', name: 'proxy1', created: true }]);
    expect(hosts.hosts.size).toBe(0);
    expect(report.leftBehind).toEqual([]);
  });
});
