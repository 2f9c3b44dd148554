import { labJobConfig } from '../helpers/lab-job-config.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readOpenJournals } from '../../src/backup/journal.js';
import { readInFlight } from '../../src/core/inflight-counter.js';
import { createLab, openLab } from '../../src/lab/index.js';
import { openRepository } from '../../src/repository/index.js';
import { labProvider } from '../../providers/lab/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { buildCli } from '../helpers/build-cli.js';
import { parentOf } from '../helpers/proc.js';
import { startRedis, type RedisFixture } from '../helpers/redis-server.js';
import { describeWith } from '../helpers/requirements.js';
import { cli } from '../cli/run-cli.js';

let redis: RedisFixture;
let build: Awaited<ReturnType<typeof buildCli>>;
let dir: string;
const workers: ChildProcess[] = [];

function config(proxy: string, over: Record<string, unknown> = {}, queueName = 'scale') {
  return labJobConfig(
    {
      // a short lock so that a killed worker's set comes back within seconds; limit slots live longer than
      // any stall of a busy test machine (a hold that lapses while its worker still runs would break the limit)
      queue: { kind: 'bullmq', url: redis.url, name: queueName, lockDurationMs: 6000, stalledIntervalMs: 1000, slotTtlMs: 15000 },
      batch: { limits: { sets: 3, perHost: 3, perArray: 2, perProxy: 2 } },
      // slow copies (MB/s per disk): the kill lands mid-copy, and sets overlap
      policy: { throttleMBps: 2 },
      ...over,
    },
    proxy,
  );
}

/** Starts `hvsnap worker` as its own process; resolves once it says it is pulling sets. */
async function startWorker(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, build.run('worker', '--config', file), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HVSNAP_LOG_LEVEL: 'info' },
  });
  workers.push(child);
  let err = '';
  await new Promise<void>((ok, fail) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      if (err.includes('worker started')) ok();
    });
    child.once('exit', (code) => fail(new Error(`worker exited with ${code}: ${err}`)));
  });
  return child;
}

describeWith('scale-out: hvsnap worker processes on BullMQ and a real redis-server', { tools: ['redis-server'] }, () => {
  beforeAll(async () => {
    [redis, build] = await Promise.all([startRedis(), buildCli()]);
    dir = await mkdtemp(join(tmpdir(), 'hvsnap-scale-'));
  }, 120_000);
  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await redis?.stop();
    await build?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('60 VMs on 6 volumes, three workers, per-array 2 and per-host 3: one restore point per VM, peaks within the limits, a worker SIGKILLed mid-copy leaves nothing and its set completes elsewhere', async () => {
    const lab = join(dir, 'lab');
    await createLab({ dir: lab, vms: 60, volumes: 6, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
    // the lab host and array count their own calls in flight where these files exist
    await writeFile(join(lab, 'inflight.json'), '{}');
    await mkdir(join(lab, 'array'), { recursive: true });
    await writeFile(join(lab, 'array', 'inflight.json'), '{}');
    const files: string[] = [];
    for (const name of ['coordinator', 'proxy-1', 'proxy-2', 'proxy-3']) {
      files.push(join(dir, `${name}.yaml`));
      await writeFile(files.at(-1)!, stringify(config(name)));
    }
    // the repository exists before the workers open it (several processes creating one at once race)
    await (await openRepository({ path: join(dir, 'repo'), create: true })).close();
    const pids = new Map<number, ChildProcess>();
    for (const f of files.slice(1)) {
      const w = await startWorker(f);
      pids.set(w.pid!, w);
    }

    // kill -9 a worker mid-copy (an uncommitted restore point in its set's journal) after it committed a VM
    // of that set: the retry must undo the rest and must not back that VM up a second time
    let killed: { pid: number; set: number; worker?: ChildProcess } | undefined;
    const journalDir = join(dir, 'repo', '.journal');
    const watcher = await openRepository({ path: join(dir, 'repo') });
    const killer = (async () => {
      while (!killed) {
        const committed = new Set((await watcher.listRestorePoints()).map((p) => `${p.jobId}/${p.vm.id}`));
        // a journal may end between listing and reading: the next round reads the rest
        for (const j of await readOpenJournals(journalDir).catch(() => [])) {
          // the journal names the process that backs up: hvsnap's child of the worker started, where it relaunched itself
          const child = pids.get(j.owner.pid) ?? pids.get(await parentOf(j.owner.pid));
          // the VMs of this attempt: every reference point it journaled
          const vmsOfSet = (await readFile(j.file, 'utf8').catch(() => ''))
            .split('\n')
            .flatMap((l) => (/"deleteReferencePoint","vmId":"([^"]+)"/.exec(l) ?? []).slice(1));
          const oneCommitted = vmsOfSet.some((vm) => committed.has(`${j.jobId}/${vm}`));
          if (child && j.set !== undefined && oneCommitted && j.pending.some((u) => u.record.kind === 'abortRestorePoint')) {
            process.kill(j.owner.pid, 'SIGKILL'); // kill -9 of the pid the journal names
            killed = { pid: j.owner.pid, set: j.set, worker: child };
            break;
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const batch = await cli('batch', '--config', files[0], '--json');
    killed ??= { pid: 0, set: 0 }; // ends the killer if no copy was ever seen (the assertions below then fail)
    await killer;
    await watcher.close();
    expect(killed.pid).not.toBe(0);
    const report = JSON.parse(batch.stdout);
    expect(
      report.vms
        .filter((v: { status: string }) => v.status !== 'ok')
        .map((v: { vm: string; step?: string; error?: { message: string } }) => `${v.vm} at ${v.step}: ${v.error?.message}`),
    ).toEqual([]);
    expect(batch.code).toBe(0);
    expect(report.totals).toMatchObject({ vms: 60, ok: 60, failed: 0 });
    expect(report.snapshotSets).toBe(6);
    // the killed worker's set was finished by another worker
    const set = report.sets.find((s: { index: number }) => s.index === killed!.set);
    expect(set.status).toBe('ok');
    expect(set.worker).not.toContain(`:${killed!.pid})`);

    // every VM exactly one restore point from the batch
    const repo = await openRepository({ path: join(dir, 'repo') });
    const points = await repo.listRestorePoints();
    const perVm = new Map<string, number>();
    for (const p of points) perVm.set(p.vm.name, (perVm.get(p.vm.name) ?? 0) + 1);
    expect(perVm.size).toBe(60);
    expect([...perVm.values()].every((n) => n === 1)).toBe(true);
    await repo.close();

    // the peaks the lab host and array saw themselves, across the three processes
    const host = await readInFlight(join(lab, 'inflight.json'));
    const array = await readInFlight(join(lab, 'array', 'inflight.json'));
    expect(host.peak['host:lab-host-1']).toBeLessThanOrEqual(3);
    expect(array.peak.array).toBeLessThanOrEqual(2);
    // and the limits were reached, not just respected: the workers really ran side by side
    expect(host.peak['host:lab-host-1']).toBeGreaterThan(1);

    // nothing left: no checkpoint, snapshot, presentation, half restore point or open journal
    expect((await openLab(lab).listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints).toEqual([]);
    const array2 = await labProvider.create(labProvider.configSchema.parse({ volumesDir: join(lab, 'volumes'), stateDir: join(lab, 'array') }), {
      logger: silentLogger,
    });
    expect(await array2.listSnapshots({})).toEqual([]);
    expect(await readdir(join(lab, 'array', 'presentations')).catch(() => [])).toEqual([]);
    expect(await readdir(join(dir, 'repo', 'tmp'))).toEqual([]);
    expect(await readOpenJournals(journalDir)).toEqual([]);
    console.log(
      `scale-out: killed worker pid ${killed!.pid} during set ${killed!.set}; ${set.worker} finished it; peaks host ${host.peak['host:lab-host-1']} array ${array.peak.array}; ${report.durationMs} ms`,
    );

    // the surviving workers stop on SIGTERM
    // (the killed one ended as its command did: by SIGKILL)
    expect(killed.worker!.signalCode).toBe('SIGKILL');
    for (const w of pids.values()) {
      if (w === killed.worker) continue;
      const exited = new Promise<number | null>((r) => w.once('exit', (code) => r(code)));
      w.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 300_000);

  it('a worker stopped by SIGTERM (systemctl stop) in the middle of a set finishes that set, then exits 0', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'hvsnap-drain-'));
    try {
      // one set of two VMs, copied at 1 MB/s per disk: seconds of work in hand when the SIGTERM comes
      await createLab({ dir: join(folder, 'lab'), vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 4 << 20 });
      const files = ['coordinator', 'proxy-1'].map((name) => join(folder, `${name}.yaml`));
      for (const [i, f] of files.entries()) await writeFile(f, stringify(config(i ? 'proxy-1' : 'coordinator', { policy: { throttleMBps: 1 } }, 'drain')));
      await (await openRepository({ path: join(folder, 'repo'), create: true })).close();
      const worker = await startWorker(files[1]!);
      let stderr = '';
      worker.stderr!.on('data', (d: Buffer) => (stderr += d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => worker.once('exit', (code, signal) => r({ code, signal })));
      const batch = cli('batch', '--config', files[0]!, '--json');
      // the set is in hand once its journal is open
      const journalDir = join(folder, 'repo', '.journal');
      for (let i = 0; i < 1200 && (await readOpenJournals(journalDir).catch(() => [])).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await readOpenJournals(journalDir)).toHaveLength(1);
      worker.kill('SIGTERM'); // to the worker's launcher alone, as systemd's KillMode=mixed sends it
      // before: the worker was ended a second later, and the batch waited for a set no worker had
      const done = await Promise.race([batch, new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 90_000).unref())]);
      expect(done, stderr).not.toBe('still waiting');
      const report = JSON.parse((done as Awaited<typeof batch>).stdout);
      expect(report.totals).toMatchObject({ vms: 2, ok: 2, failed: 0 });
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(stderr).toContain('hvsnap: stopping on SIGTERM');
      expect(await readOpenJournals(journalDir)).toEqual([]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }, 180_000);
});
