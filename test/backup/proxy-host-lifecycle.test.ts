import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { readOpenJournals } from '../../src/backup/journal.js';
import { describeUndo, runUndo } from '../../src/backup/undo.js';
import { journalDir } from '../../src/core/names.js';
import { parseJobConfig } from '../../src/job/config.js';
import { policyFromConfig } from '../../src/job/policy.js';
import { providerError } from '../../providers/sdk/errors.js';
import type { HostHandle, Provider } from '../../providers/sdk/provider.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** The lab array, except that it makes a host object for the proxy, as a SAN array does. */
function withHosts(lab: Provider, opts: { created: boolean; stillMapped?: boolean }) {
  const removed: HostHandle[] = [];
  // everything else is the lab array's own (its methods may live on a prototype or a wrapper, so inherit rather than spread)
  const provider = Object.assign(Object.create(lab) as Provider, {
    ensureHost: async () => ({ id: 'ig-1', name: 'proxy1', created: opts.created }),
    removeHost: async ({ host }: { host: HostHandle }) => {
      if (opts.stillMapped) throw providerError('wrong_state', `host ${host.name} still has LUNs mapped`);
      removed.push(host);
    },
  });
  return { provider, removed };
}

describe('the proxy host on the array', () => {
  it('a host hvsnap made for the run is removed when the set ends; one it found stays; keepHosts keeps it', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    const lab = env.provider;
    const made = withHosts(lab, { created: true });
    env.provider = made.provider;
    const r0 = await runBackup(env, {});
    expect(r0.ok, JSON.stringify(r0.vms)).toBe(true);
    expect(made.removed).toEqual([{ id: 'ig-1', name: 'proxy1', created: true }]);

    const found = withHosts(lab, { created: false });
    env.provider = found.provider;
    expect((await runBackup(env, {})).ok).toBe(true);
    expect(found.removed).toEqual([]);

    const kept = withHosts(lab, { created: true });
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
    const kept = withHosts(lab, { created: true });
    env.provider = kept.provider;
    expect((await runBackup(env, { policy: policyFromConfig(config({ keepHost: true }), false) })).ok).toBe(true);
    expect(kept.removed).toEqual([]);

    const removed = withHosts(lab, { created: true });
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
    const hosts = withHosts(env.provider, { created: true });
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
    await runUndo(undo.record, { provider: env.provider, proxy: env.proxy, hypervisor: env.hypervisor, abortRestorePoint: async () => {} });
    expect(hosts.removed).toHaveLength(removedCount);
  });

  it('a host another set still uses stays, and the backup is still ok', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    env.provider = withHosts(env.provider, { created: true, stillMapped: true }).provider;
    const report = await runBackup(env, {});
    expect(report.ok).toBe(true);
  });
});
