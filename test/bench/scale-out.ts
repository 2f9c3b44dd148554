import { labJobConfig } from '../helpers/lab-job-config.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { createLab } from '../../src/lab/index.js';
import { openRepository } from '../../src/repository/index.js';
import { childrenOf } from '../helpers/proc.js';
import { startRedis } from '../helpers/redis-server.js';

/**
 * Scale-out figures in one run: a batch of VMS VMs on VOLUMES volumes in-process, then through a
 * real redis-server with 1, 2 and 3 `hvsnap worker` processes. Per run: wall time of the
 * coordinator process, orchestration overhead (wall time minus the sets' own work divided by the
 * workers: the set's work is its slowest VM, the critical path inside it) and each worker's peak
 * memory (VmHWM, peak resident set). After `npm run build`: `node dist/test/bench/scale-out.js
 * [vms] [volumes]`. Prints a table; never fails on a number.
 */
const cliMain = resolve(import.meta.dirname, '../../src/cli/main.js');
const vms = Number(process.argv[2] ?? 200);
const volumes = Number(process.argv[3] ?? 10);
const limits = { sets: 3, perHost: 4, perArray: 2, perProxy: 2 };

function run(argv: string[], cwd: string): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [cliMain, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HVSNAP_LOG_LEVEL: 'info' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return { child, done: new Promise((r) => child.once('exit', (code) => r({ code, stdout, stderr }))) };
}

/**
 * Peak RSS of the `hvsnap` started as `pid`, in bytes: of the process that runs its command, which is
 * `pid`'s child where hvsnap relaunched itself for the command (src/cli/relaunch.ts), the idle launcher's added.
 */
function peakRss(pid: number): number {
  const own = (p: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  return own(pid) + childrenOf(pid).reduce((sum, c) => sum + own(c), 0);
}

async function once(workers: number, redisUrl: string | undefined): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'hvsnap-bench-scale-'));
  try {
    await createLab({ dir: join(dir, 'lab'), vms, volumes, diskSizeBytes: 2 << 20, dataBytes: 1 << 20 });
    await (await openRepository({ path: join(dir, 'repo'), create: true })).close();
    const config = (proxy: string) =>
      labJobConfig({ batch: { limits }, ...(redisUrl && { queue: { kind: 'bullmq', url: redisUrl, name: `bench-${workers}` } }) }, proxy);
    await writeFile(join(dir, 'coordinator.yaml'), stringify(config('proxy-1')));
    const started: Array<ReturnType<typeof run>> = [];
    for (let i = 1; i <= workers; i++) {
      await writeFile(join(dir, `w${i}.yaml`), stringify(config(`proxy-${i}`)));
      const w = run(['worker', '--config', `w${i}.yaml`], dir);
      await new Promise<void>((ok) => w.child.stderr!.on('data', (d: Buffer) => String(d).includes('worker started') && ok()));
      started.push(w);
    }
    const t0 = performance.now();
    const batch = run(['batch', '--config', 'coordinator.yaml', '--json'], dir);
    let coordinatorPeak = 0;
    const sampler = setInterval(() => {
      try {
        coordinatorPeak = Math.max(coordinatorPeak, peakRss(batch.child.pid!));
      } catch {
        // exited
      }
    }, 100);
    const result = await batch.done;
    const wallMs = performance.now() - t0;
    clearInterval(sampler);
    const peaks = started.map((w) => peakRss(w.child.pid!));
    for (const w of started) w.child.kill('SIGTERM');
    await Promise.all(started.map((w) => w.done));
    if (result.code !== 0 && result.code !== 5) throw new Error(`batch with ${workers} worker(s) exited ${result.code}: ${result.stderr.slice(-2000)}`);
    const report = JSON.parse(result.stdout);
    // a VM that failed is reported with its error, not hidden in the figures
    for (const v of report.vms.filter((x: { status: string }) => x.status !== 'ok'))
      process.stderr.write(`${workers} worker(s): ${v.vm} failed at ${v.step}: [${v.error?.code}] ${v.error?.message}\n`);
    const setWork = new Map<number, number>();
    for (const v of report.vms as Array<{ set: number; durationMs: number }>) setWork.set(v.set, Math.max(setWork.get(v.set) ?? 0, v.durationMs));
    const work = [...setWork.values()].reduce((a, b) => a + b, 0);
    // sets run side by side: up to `limits.sets` in-process, one per worker (at most `limits.sets`) distributed
    const lanes = workers === 0 ? limits.sets : Math.min(workers, limits.sets);
    return {
      mode: workers === 0 ? 'in-process' : `${workers} worker(s)`,
      ok: `${report.totals.ok}/${report.totals.vms}`,
      wallS: +(wallMs / 1000).toFixed(1),
      overheadS: +((wallMs - work / lanes) / 1000).toFixed(1),
      workerPeakMiB: workers === 0 ? [+(coordinatorPeak / 2 ** 20).toFixed(0)] : peaks.map((p) => +(p / 2 ** 20).toFixed(0)),
      coordinatorPeakMiB: +(coordinatorPeak / 2 ** 20).toFixed(0),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const redis = await startRedis();
try {
  const rows = [await once(0, undefined)];
  for (const n of [1, 2, 3]) rows.push(await once(n, redis.url));
  process.stdout.write(`scale-out: ${vms} VMs on ${volumes} volumes, limits ${JSON.stringify(limits)}\n`);
  console.table(rows);
  process.stdout.write(JSON.stringify(rows) + '\n');
} finally {
  await redis.stop();
}
