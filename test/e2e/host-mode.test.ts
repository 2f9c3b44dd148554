import { createHash } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, type SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { runBatch } from '../../src/backup/batch.js';
import { runSetWorker } from '../../src/backup/set-worker.js';
import type { HostMounts } from '../../src/backup/types.js';
import { chunksTouched } from '../../src/core/ranges.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labPinFrozen, labWrite } from '../../src/lab/index.js';
import { readState, updateState } from '../../src/lab/lab-state.js';
import { restoreVm } from '../../src/restore/restore-vm.js';
import { createSftpMount, type SftpClient } from '../../proxy/sftp/index.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { startRedis } from '../helpers/redis-server.js';
import { describeWith, skipUnless } from '../helpers/requirements.js';
import { startSshd, type Sshd } from '../transport/sshd-fixture.js';

/**
 * Host mode against a real OpenSSH server and its real sftp-server on 127.0.0.1: the lab host's
 * volumes are served over SFTP (a root mapping stands for the drive letters of a Windows host), and
 * the proxy reads the frozen base VHDX from there while the checkpoint lives.
 */
const BATCH_LIMITS = { sets: 2, perHost: 4, perArray: 2, perProxy: 2 };
const noRedis = skipUnless('host mode: a distributed batch', { tools: ['redis-server'] });

describeWith('host mode: the frozen VHDX read over SFTP from a real sshd', { tools: ['sshd', 'ssh-keygen', 'qemu-img'], root: true }, () => {
  let sshd: Sshd;
  let client: Client;
  let sftp: SFTPWrapper;
  let env: LabEnv;
  /** bytes the SFTP server answered, counted per read request */
  const served = { bytes: 0 };
  /** test switch: the next read request fails as a dropped connection would */
  let dropAfterBytes: number | undefined;

  beforeAll(async () => {
    sshd = await startSshd();
    client = await connect(sshd);
    sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((e, s) => (e ? reject(e) : resolve(s))));
    // 6 VMs on 3 volumes; Volume3 (vm-03, vm-06) is then taken off the array (a local disk of the
    // host), so that a mixed batch has VMs the provider owns and VMs it does not
    env = await makeLabEnv({ vms: 6, volumes: 3, diskSizeBytes: 16 << 20, dataBytes: 6 << 20 });
    const local = join(env.dir, 'local-disks', 'Volume3');
    await mkdir(join(env.dir, 'local-disks'));
    await rename(join(env.labDir, 'volumes', 'Volume3'), local);
    await updateState(env.labDir, async (s) => {
      s.volumes.find((v) => v.name === 'Volume3')!.dir = local;
    });
    const roots = await readState(env.labDir, (s) => s.volumes.map((v) => ({ hostRoot: v.hostRoot, sftpRoot: v.dir })));
    env.hostMounts = hostMounts(roots);
  });
  afterAll(async () => {
    client?.end();
    await sshd?.stop();
    await env?.cleanup();
  });

  function hostMounts(roots: Array<{ hostRoot: string; sftpRoot: string }>): HostMounts {
    const counting: SftpClient = {
      open: (p, f, cb) => sftp.open(p, f, cb),
      stat: (p, cb) => sftp.stat(p, cb),
      fstat: (h, cb) => sftp.fstat(h, cb),
      close: (h, cb) => sftp.close(h, cb),
      read: (h, buf, off, len, pos, cb) => {
        if (dropAfterBytes !== undefined && served.bytes >= dropAfterBytes) return cb(Object.assign(new Error('No connection'), { code: 6 }), 0);
        return sftp.read(h, buf, off, len, pos, (err, n) => {
          if (!err) served.bytes += n;
          cb(err, n);
        });
      },
    };
    return { mount: async ({ host, bytesPerSec }) => createSftpMount({ host, sftp: counting, roots, bytesPerSec }) };
  }

  /** Hooks that pin each frozen base at checkpoint time and record how many checkpoints live during the copy. */
  function pinning() {
    const frozen = new Map<string, Record<string, string>>();
    const checkpointsDuringCopy = new Set<number>();
    const hooks = {
      onCheckpoints: async (cps: Checkpoint[]) => {
        for (const cp of cps) frozen.set(cp.vmName, await labPinFrozen(env.labDir, cp, join(env.dir, 'frozen', cp.name.replace(/[^\w-]/g, '_'), cp.vmName)));
      },
      onChunk: async () => {
        checkpointsDuringCopy.add((await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints.length);
      },
    };
    return { hooks, frozen, checkpointsDuringCopy };
  }

  /** Backs up with host mode, pinning each frozen base at checkpoint time and checking the checkpoint lives during the copy. */
  async function backup(vms: string[] | 'batch', policy: Record<string, unknown>) {
    const { hooks, frozen, checkpointsDuringCopy } = pinning();
    const run = (options: Parameters<typeof runBatch>[2]) =>
      vms === 'batch' ? runBatch(env, { select: {}, limits: BATCH_LIMITS }, options) : runBackup(env, { ...options, vms });
    const report = await run({ policy, hooks });
    return { report, frozen, checkpointsDuringCopy };
  }

  async function expectRestoresIdentical(report: Awaited<ReturnType<typeof backup>>['report'], frozen: Map<string, Record<string, string>>) {
    for (const v of report.vms) {
      const restored = await restoreVm({
        repository: env.repository,
        restorePointId: v.restorePointId!,
        targetDir: join(env.dir, 'restored', v.restorePointId!),
      });
      for (const d of restored.disks) expect(await qemuRawDigest(d.target), `${v.vm} ${d.diskId}`).toBe(await qemuRawDigest(frozen.get(v.vm)![d.diskId]));
    }
  }

  it('full, then incremental after writes: byte-identical restores, only touched chunks read over SFTP, the checkpoint alive for the copy and gone after', async () => {
    served.bytes = 0;
    const full = await backup(['vm-01'], { mode: 'host' });
    expect(full.report.ok, JSON.stringify(full.report.vms)).toBe(true);
    const vm = full.report.vms[0];
    expect(vm.mode).toBe('host');
    expect(vm.disks[0].mode).toBe('full');
    expect(full.report.snapshotSets).toBe(0);
    // the copy ran while the checkpoint existed, and nothing is left once the job ended
    expect([...full.checkpointsDuringCopy]).toEqual([1]);
    expect((await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints).toHaveLength(0);
    expect(await env.hypervisor.listReferencePoints({ vmId: vm.vmId })).toHaveLength(1);
    expect(served.bytes).toBeGreaterThanOrEqual(vm.bytesRead);
    await expectRestoresIdentical(full.report, full.frozen);

    const written = await labWrite({ dir: env.labDir, vm: 'vm-01', count: 5, sizeBytes: 64 << 10, seed: 11 });
    // a write straddling a chunk boundary touches two chunks
    const touched = chunksTouched(written.writes, env.repository.chunkSize, 16 << 20).length;
    served.bytes = 0;
    const incr = await backup(['vm-01'], { mode: 'host' });
    expect(incr.report.ok, JSON.stringify(incr.report.vms)).toBe(true);
    expect(incr.report.vms[0].disks[0].mode).toBe('incremental');
    expect([...incr.checkpointsDuringCopy]).toEqual([1]);
    // bytes the SFTP server sent: the touched chunks, plus the VHDX's headers, region table, metadata and BAT (2 MiB at most)
    const chunk = env.repository.chunkSize;
    expect(served.bytes).toBeLessThanOrEqual(touched * chunk + (2 << 20));
    expect(served.bytes).toBeGreaterThanOrEqual(touched * 64 * 1024);
    // the superseded reference point was deleted: exactly one remains
    expect(await env.hypervisor.listReferencePoints({ vmId: vm.vmId })).toHaveLength(1);
    await expectRestoresIdentical(incr.report, incr.frozen);
  });

  it('a mixed batch: the 4 VMs on the array go through its snapshots, the 2 on a local disk fall back to host mode; all byte-identical', async () => {
    const mixed = await backup('batch', { hostFallback: true });
    expect(mixed.report.ok, JSON.stringify(mixed.report.vms)).toBe(true);
    const modes = Object.fromEntries(mixed.report.vms.map((v) => [v.vm, v.mode]));
    expect(modes).toEqual({ 'vm-01': 'offload', 'vm-02': 'offload', 'vm-03': 'host', 'vm-04': 'offload', 'vm-05': 'offload', 'vm-06': 'host' });
    expect(mixed.report.snapshotSets).toBe(2);
    for (const v of mixed.report.vms) expect((await env.repository.getRestorePoint(v.restorePointId!)).mode).toBe(v.mode);
    await expectRestoresIdentical(mixed.report, mixed.frozen);
    // without the fallback the same VM is refused by the array's preconditions, before any checkpoint, and nothing is left behind
    const refused = await runBackup(env, { vms: ['vm-03'] });
    expect(refused.vms[0]).toMatchObject({ vm: 'vm-03', status: 'failed', step: 'preconditions' });
    expect(refused.leftBehind).toEqual([]);
    expect((await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints).toHaveLength(0);
  });

  it.skipIf(noRedis)(
    `a distributed batch plans as a single-process one: with hostFallback the worker reads the 2 VMs on a local disk in host mode; all byte-identical${noRedis ? ` — SKIPPED: ${noRedis}` : ''}`,
    async () => {
      const redis = await startRedis();
      const queue = { kind: 'bullmq', url: redis.url, name: 'host-mode', lockDurationMs: 30_000, stalledIntervalMs: 30_000, slotTtlMs: 30_000 } as const;
      const stop = new AbortController();
      const { hooks, frozen } = pinning();
      // the worker runs in this process, on the environment whose hostMounts read the lab's volumes over SFTP
      const worker = runSetWorker(env, queue, { signal: stop.signal, hooks });
      try {
        const report = await runBatch(env, { select: {}, limits: BATCH_LIMITS }, { policy: { hostFallback: true }, distributed: queue });
        expect(report.ok, JSON.stringify(report.vms)).toBe(true);
        expect(Object.fromEntries(report.vms.map((v) => [v.vm, v.mode]))).toEqual({
          'vm-01': 'offload',
          'vm-02': 'offload',
          'vm-03': 'host',
          'vm-04': 'offload',
          'vm-05': 'offload',
          'vm-06': 'host',
        });
        expect(report.snapshotSets).toBe(2);
        expect(report.sets.every((s) => s.worker?.startsWith(env.proxyHost.name))).toBe(true);
        await expectRestoresIdentical(report, frozen);
      } finally {
        stop.abort();
        await worker;
        await redis.stop();
      }
    },
    120_000,
  );

  it('a connection dropped during the copy fails that VM cleanly: no checkpoint, no restore point, the reference point of the last good one kept', async () => {
    const before = await env.repository.listRestorePoints();
    const vmId = (await env.hypervisor.listVms({ names: ['vm-01'] }))[0].id;
    const refsBefore = await env.hypervisor.listReferencePoints({ vmId });
    dropAfterBytes = served.bytes + 256 * 1024;
    try {
      await labWrite({ dir: env.labDir, vm: 'vm-01', count: 40, sizeBytes: 64 << 10, seed: 12 });
      const failed = await backup(['vm-01'], { mode: 'host', forceFull: true });
      expect(failed.report.vms[0]).toMatchObject({ status: 'failed', step: 'copy' });
      expect(failed.report.leftBehind).toEqual([]);
    } finally {
      dropAfterBytes = undefined;
    }
    expect((await env.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints).toHaveLength(0);
    expect((await env.repository.listRestorePoints()).map((r) => r.id).sort()).toEqual(before.map((r) => r.id).sort());
    expect((await env.hypervisor.listReferencePoints({ vmId })).map((r) => r.id)).toEqual(refsBefore.map((r) => r.id));
    // and the next run is incremental again from the kept reference point
    const next = await backup(['vm-01'], { mode: 'host' });
    expect(next.report.ok).toBe(true);
    expect(next.report.vms[0].disks[0].mode).toBe('incremental');
    await expectRestoresIdentical(next.report, next.frozen);
  });
});

async function connect(sshd: Sshd): Promise<Client> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({
      host: '127.0.0.1',
      port: sshd.port,
      username: 'root',
      privateKey: sshd.clientKey,
      // host key pinned, as the product does it
      hostVerifier: (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` === sshd.hostKeyFingerprint,
    });
  });
  return client;
}
