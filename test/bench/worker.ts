import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Client, SFTPWrapper } from 'ssh2';
import { alignedMemorySource } from '../../src/core/aligned-memory.js';
import { restoreDisk, verifyDiskAgainstIndex } from '../../src/restore/restore-disk.js';
import { openRepository, type Repository } from '../../src/repository/index.js';
import {
  ANSWER_MARK,
  type HostModeTarget,
  type BackupAnswer,
  type PeakRss,
  type RestoreAnswer,
  type WorkerAnswer,
  type WorkerTask,
} from './worker-protocol.js';

/**
 * A bench worker: `node dist/test/bench/worker.js '<task JSON>'`. Runs one task, prints one answer
 * line (ANSWER_MARK + JSON) with its peak RSS, and exits 0; a failed task prints the error on
 * stderr and exits 1. Like the CLI (which imports a command's modules only when it runs), it
 * imports ssh2 and the SFTP mount only for a host-mode task, and the backup job only for a backup
 * (or idle) task: a timed backup or restore is a whole process, and 60-90 ms of importing what the
 * task never uses would be timed with it (a restore task that fails at once, on a missing
 * repository, took a median 0.30 s with the backup job imported and 0.25 s without, 7 runs each).
 */

/** What a backup imports besides the repository; an idle worker (the memory floor of a backup) too. */
const backupModules = () => Promise.all([import('../../src/backup/backup-job.js'), import('./bench-env.js')]);

async function backup(task: Extract<WorkerTask, { kind: 'backup' }>): Promise<BackupAnswer> {
  const [{ runBackup }, { openBenchEnv }] = await backupModules();
  const env = await openBenchEnv(task.labDir, task.repoDir, task.passphrase);
  const copies = timeCopies(env.repository);
  const ssh = task.host ? await connectHost(task.host) : undefined;
  if (ssh && task.host) {
    const { createSftpMount } = await import('../../proxy/sftp/index.js');
    env.hostMounts = { mount: async ({ host, bytesPerSec }) => createSftpMount({ host, sftp: ssh.sftp, roots: task.host!.roots, bytesPerSec }) };
  }
  try {
    const started = performance.now();
    const report = await runBackup(env, {
      policy: { forceFull: task.forceFull, ...(task.host && { mode: 'host' as const }) },
      hooks: {
        beforeStep: (step, where) => {
          if (step === 'copy' && where.vm) copies.set(where.vm, { start: performance.now() });
        },
      },
    });
    const ms = performance.now() - started;
    if (!report.ok) {
      const bad = report.vms.filter((v) => v.status !== 'ok');
      throw new Error(
        `backup failed for ${bad.length} VM(s): ${bad
          .slice(0, 3)
          .map((v) => `${v.vm} at ${v.step}: ${v.error?.message}`)
          .join('; ')}`,
      );
    }
    return {
      kind: 'backup',
      ms,
      copyWallMs: unionMs([...copies.values()].map((c) => [c.start, c.end ?? c.start])),
      snapshotSets: report.snapshotSets,
      bytesRead: report.totals.bytesRead,
      bytesWritten: report.totals.bytesWritten,
      vms: report.vms.map((v) => ({
        vm: v.vm,
        restorePointId: v.restorePointId!,
        checkpointLifetimeMs: v.checkpointLifetimeMs ?? 0,
        bytesRead: v.bytesRead,
        changedBytes: v.disks.reduce((n, d) => n + (d.changedBytes ?? 0), 0),
        modes: v.disks.map((d) => d.mode),
        diskIds: v.disks.map((d) => d.diskId),
      })),
    };
  } finally {
    ssh?.client.end();
    await env.repository.close();
  }
}

/** An SSH connection with its SFTP session to the bench's sshd, host key pinned. */
async function connectHost(target: HostModeTarget): Promise<{ client: Client; sftp: SFTPWrapper }> {
  const { Client } = await import('ssh2');
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({
      host: '127.0.0.1',
      port: target.port,
      username: 'root',
      privateKey: target.clientKey,
      hostVerifier: (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` === target.hostKeyFingerprint,
    });
  });
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((e, s) => (e ? reject(e) : resolve(s))));
  return { client, sftp };
}

/**
 * Times each VM's data path, from its copy step's start (set by the caller) to the end of its
 * restore point's commit, which makes the chunks durable: the instance's beginRestorePoint is
 * wrapped so that each writer's commit records when it returned.
 */
function timeCopies(repository: Repository): Map<string, { start: number; end?: number }> {
  const copies = new Map<string, { start: number; end?: number }>();
  const begin = repository.beginRestorePoint.bind(repository);
  repository.beginRestorePoint = async (args) => {
    const writer = await begin(args);
    const commit = writer.commit.bind(writer);
    writer.commit = async (manifest) => {
      try {
        return await commit(manifest);
      } finally {
        const c = copies.get(args.vmName);
        if (c) c.end = performance.now();
      }
    };
    return writer;
  };
  return copies;
}

/** Length of the union of [start, end] intervals. */
function unionMs(intervals: Array<[number, number]>): number {
  let total = 0;
  let end = -Infinity;
  for (const [s, e] of intervals.sort((a, b) => a[0] - b[0])) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total;
}

async function restore(task: Extract<WorkerTask, { kind: 'restore' }>): Promise<RestoreAnswer> {
  const repository = await openRepository({ path: task.repoDir, passphrase: task.passphrase });
  try {
    let t = performance.now();
    const result = await restoreDisk({ repository, restorePointId: task.restorePointId, diskId: task.diskId, target: task.target });
    const restoreMs = performance.now() - t;
    const { syncMs, virtualSize } = result;
    if (task.noVerify) return { kind: 'restore', restoreMs, syncMs, verifyMs: 0, virtualSize, mismatches: 0 };
    const index = await repository.readIndex(task.restorePointId, task.diskId);
    t = performance.now();
    const verified = await verifyDiskAgainstIndex(task.target, index);
    const verifyMs = performance.now() - t;
    if (verified.mismatches.length > 0) {
      throw new Error(
        `restored ${task.target} differs from restore point ${task.restorePointId}: ${verified.mismatches.length} chunk(s), first at index ${verified.mismatches[0]}`,
      );
    }
    return { kind: 'restore', restoreMs, syncMs, verifyMs, virtualSize, mismatches: 0 };
  } finally {
    await repository.close();
  }
}

/** This process's peak RSS: VmHWM where Linux gives it (see PeakRss), else getrusage's maxRSS. */
async function peakRss(): Promise<PeakRss> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb ? { peakRssBytes: Number(kb) * 1024, source: 'VmHWM' } : { peakRssBytes: process.resourceUsage().maxRSS * 1024, source: 'maxRSS' };
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2] ?? '{}') as WorkerTask;
  const answer =
    task.kind === 'backup'
      ? await backup(task)
      : task.kind === 'restore'
        ? await restore(task)
        : task.kind === 'idle'
          ? await backupModules().then(() => ({ kind: 'idle' as const }))
          : undefined;
  if (!answer) throw new Error(`unknown worker task ${JSON.stringify(task)}`);
  const full: WorkerAnswer = { ...answer, ...(await peakRss()), alignedMemory: alignedMemorySource() };
  process.stdout.write(`${ANSWER_MARK}${JSON.stringify(full)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
