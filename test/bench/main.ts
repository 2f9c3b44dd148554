import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { transparentHugePages } from '../../src/core/aligned-memory.js';
import { createDiskLab, FULL_SIZES, QUICK_SIZES, type BenchContext, type DiskLab } from './bench-context.js';
import { endChildren } from './children.js';
import { workerMemorySeen } from './run-worker.js';
import { renderTable } from './render-table.js';
import { checkpointLifetimeScenario } from './scenarios/checkpoint-lifetime.js';
import { fullBackupScenario } from './scenarios/full-backup.js';
import { hostModeScenario } from './scenarios/host-mode.js';
import { incrementalScenario } from './scenarios/incremental.js';
import { instantRestoreScenario } from './scenarios/instant-restore.js';
import { memoryScenario } from './scenarios/memory.js';
import { peersScenario } from './scenarios/peers.js';
import { mountFirstByteScenario } from './scenarios/mount-first-byte.js';
import { restoreScenario } from './scenarios/restore.js';
import { scaleScenario } from './scenarios/scale.js';
import { startupScenario } from './scenarios/startup.js';
import { sizeText, type ScenarioResult } from './stats.js';

/**
 * `npm run bench [-- --quick] [--out FILE] [--runs N] [--only ids]`: hvsnap against peers (cp,
 * qemu-img) run as children of this process, in one run on one machine. Prints a table on stdout,
 * progress on stderr, writes the same figures as JSON. Exits 1 when a run failed, never because
 * of a number.
 */

const USAGE =
  'usage: npm run bench -- [--quick] [--out FILE] [--runs N>=3] [--peer-disk GiB] [--only full-backup,incremental,checkpoint-lifetime,scale,restore,memory,startup,peers,mount-first-byte,instant-restore,host-mode]';
const ORDER = [
  'full-backup',
  'incremental',
  'checkpoint-lifetime',
  'scale',
  'restore',
  'memory',
  'startup',
  'peers',
  'mount-first-byte',
  'instant-restore',
  'host-mode',
];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results.json' },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      'peer-disk': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const runs = Number(values.runs);
  const only = values.only?.split(',').map((s) => s.trim()) ?? ORDER;
  if (!Number.isInteger(runs) || runs < 3) throw new Error(`--runs must be an integer of at least 3 (each figure is a median), got ${values.runs}`);
  const unknown = only.filter((id) => !ORDER.includes(id));
  if (unknown.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')}; known: ${ORDER.join(', ')}`);

  const started = new Date();
  const dir = await mkdtemp(join(tmpdir(), 'hvsnap-bench-'));
  const onSignal = (sig: NodeJS.Signals) => {
    endChildren();
    rmSync(dir, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const peerDisk = values['peer-disk'] === undefined ? undefined : Number(values['peer-disk']);
  if (peerDisk !== undefined && !(Number.isInteger(peerDisk) && peerDisk >= 1))
    throw new Error(`--peer-disk must be a whole number of GiB (at least 1), got ${values['peer-disk']}`);
  // --peer-disk: scenario 8 on a disk of that many GiB (for trials; the goals are stated for the full size, 8)
  const sizes = { ...(values.quick ? QUICK_SIZES : FULL_SIZES), ...(peerDisk !== undefined && { peerDiskBytes: peerDisk * 2 ** 30 }) };
  const progress = (m: string) => process.stderr.write(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0)}s] ${m}\n`);
  const disks = new Map<number, Promise<DiskLab>>();
  const diskLab = (size: number): Promise<DiskLab> => {
    if (!disks.has(size)) {
      progress(`building a lab disk of ${sizeText(size)} (half data)`);
      disks.set(size, createDiskLab({ dir: join(dir, `disk-${size}`), diskBytes: size, dataBytes: size / 2 }));
    }
    return disks.get(size)!;
  };
  const ctx: BenchContext = { dir, runs, sizes, progress, diskLab };
  const results = new Map<string, ScenarioResult>();
  const attempt = async (id: string, title: string, fn: () => Promise<ScenarioResult>): Promise<ScenarioResult | undefined> => {
    if (!only.includes(id)) return undefined;
    try {
      const r = await fn();
      results.set(id, r);
      return r;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      ctx.progress(`${title} FAILED: ${message}`);
      results.set(id, { id, title, setup: '', figures: [], goals: [], details: {}, error: message });
      return undefined;
    }
  };

  try {
    // run order differs from table order: restore needs the disk before the incrementals change it
    let full: Awaited<ReturnType<typeof fullBackupScenario>> | undefined;
    await attempt('full-backup', '1. Full backup', async () => (full = await fullBackupScenario(ctx, await diskLab(sizes.diskBytes))));
    await attempt('restore', '5. Restore', async () => restoreScenario(ctx, await diskLab(sizes.diskBytes), full?.kept));
    await attempt('incremental', '2. Incremental', async () => incrementalScenario(ctx, await diskLab(sizes.diskBytes), full?.fullMs, full?.kept));
    await attempt('checkpoint-lifetime', '3. Checkpoint lifetime', () => checkpointLifetimeScenario(ctx));
    await attempt('scale', '4. Scale', () => scaleScenario(ctx));
    await attempt('memory', '6. Data mover memory', () => memoryScenario(ctx));
    await attempt('startup', '7. Start time', () => startupScenario(ctx));
    await attempt('peers', '8. hvsnap, restic and borg', () => peersScenario(ctx));
    await attempt('mount-first-byte', '9. Mount: time to first byte', () => mountFirstByteScenario(ctx));
    await attempt('instant-restore', '10. Instant restore', () => instantRestoreScenario(ctx));
    await attempt('host-mode', '11. Host mode over SFTP', async () => hostModeScenario(ctx, await diskLab(sizes.diskBytes)));
  } finally {
    await rm(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const ordered = ORDER.filter((id) => results.has(id)).map((id) => results.get(id)!);
  const finished = new Date();
  const mode = values.quick ? 'quick' : 'full';
  const machine = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemBytes: totalmem(),
    transparentHugePages: transparentHugePages() ?? 'absent',
    /** where hvsnap's workers took their direct I/O buffers from (core/aligned-memory.ts) */
    workerIoMemory: [...workerMemorySeen].join(', ') || 'no worker ran',
  };
  const header = [
    `hvsnap bench (${mode}: data disk ${sizeText(sizes.diskBytes)}, peers disk ${sizeText(sizes.peerDiskBytes)}, memory ${sizes.memoryDisks.map(sizeText).join(' vs ')}, ${runs} runs per figure)`,
    `${started.toISOString()}, ${((finished.getTime() - started.getTime()) / 1000).toFixed(0)} s; node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}); ${qemuVersion()}`,
    `transparent huge pages: ${machine.transparentHugePages}; hvsnap's I/O buffers: ${machine.workerIoMemory} (malloc: in huge pages, as hvsnap starts its data commands; wasm: in 4 KiB pages)`,
  ].join('\n');
  process.stdout.write(`${renderTable(header, ordered)}\n`);
  // under `npm run`, the current folder is the package's; INIT_CWD is where the user typed the command
  const out = resolve(process.env.INIT_CWD ?? process.cwd(), values.out!);
  const failed = ordered.some((r) => r.error);
  await writeFile(
    out,
    `${JSON.stringify(
      {
        tool: 'hvsnap bench',
        mode,
        runs,
        startedAt: started.toISOString(),
        durationMs: finished.getTime() - started.getTime(),
        machine,
        peers: { cp: 'cp (coreutils)', qemuImg: qemuVersion() },
        sizes,
        failed,
        scenarios: ordered.map(({ id, title, setup, figures, goals, details, error }) => ({ id, title, setup, figures, goals, details, error })),
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`\nfigures written to ${out}\n`);
  return failed ? 1 : 0;
}

function qemuVersion(): string {
  try {
    return execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return 'qemu-img not found';
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    process.exitCode = 2;
  },
);
