import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { chunksTouched } from '../../../src/core/ranges.js';
import { labWrite } from '../../../src/lab/index.js';
import { DEFAULT_CHUNK_SIZE } from '../../../src/repository/index.js';
import { clearReferencePoints } from '../bench-env.js';
import type { BenchContext, DiskLab, KeptBackup } from '../bench-context.js';
import { runWorker } from '../run-worker.js';
import { figure, MiB, ratioRuns, sizeText, type Figure, type Goal, type ScenarioResult } from '../stats.js';

const WRITE = 64 * 1024;

/**
 * 2. Incrementals after 1% and 10% of the disk was rewritten in scattered 64 KiB writes: bytes
 * read from the snapshot against the changed bytes (as RCT reports them) and against the changed
 * bytes rounded up to whole repository chunks; time against the full backup. Each run writes,
 * then backs up in a fresh worker; every incremental follows the previous restore point, the
 * first one the full restore point scenario 1 left (or one of its own).
 */
export async function incrementalScenario(ctx: BenchContext, disk: DiskLab, fullMs?: number[], from?: KeptBackup): Promise<ScenarioResult> {
  let repoDir = from?.repoDir;
  let full = fullMs;
  if (!repoDir || !full) {
    repoDir = join(ctx.dir, 'incremental-repo');
    await clearReferencePoints(disk.labDir);
    ctx.progress('incremental: the full backup it starts from');
    full = [(await runWorker({ kind: 'backup', labDir: disk.labDir, repoDir, forceFull: false })).ms];
  }
  const figures: Figure[] = [];
  const goals: Goal[] = [];
  const fullMedian = figure('full', 'ms', full).median;
  const details: Record<string, unknown> = { chunkSize: DEFAULT_CHUNK_SIZE, writeBytes: WRITE, fullMsMedian: fullMedian };
  for (const pct of [1, 10]) {
    const count = Math.round(((pct / 100) * disk.virtualSize) / WRITE);
    const read: number[] = [];
    const changed: number[] = [];
    const rounded: number[] = [];
    const ms: number[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      ctx.progress(`incremental ${pct}%: run ${r + 1}/${ctx.runs}`);
      const w = await labWrite({ dir: disk.labDir, vm: disk.vm, count, sizeBytes: WRITE, seed: 1000 + pct * 10 + r });
      const a = await runWorker({ kind: 'backup', labDir: disk.labDir, repoDir, forceFull: false });
      const vm = a.vms[0];
      if (vm.modes.some((m) => m !== 'incremental'))
        throw new Error(`incremental ${pct}% run ${r + 1}: VM ${vm.vm} was copied ${vm.modes.join(',')}, not incrementally`);
      read.push(vm.bytesRead);
      changed.push(vm.changedBytes);
      rounded.push(chunksTouched(w.writes, DEFAULT_CHUNK_SIZE, disk.virtualSize).length * DEFAULT_CHUNK_SIZE);
      ms.push(a.ms);
    }
    const vsRounded = figure(`${pct}%: bytes read / changed rounded up to chunks`, 'x', ratioRuns(read, rounded));
    figures.push(
      figure(
        `${pct}%: changed bytes (RCT)`,
        'MiB',
        changed.map((b) => b / MiB),
      ),
      figure(
        `${pct}%: bytes read from the snapshot`,
        'MiB',
        read.map((b) => b / MiB),
      ),
      figure(`${pct}%: bytes read / changed bytes`, 'x', ratioRuns(read, changed)),
      vsRounded,
      figure(
        `${pct}%: time / full backup time`,
        'x',
        ms.map((x) => x / fullMedian),
      ),
    );
    goals.push({
      text: `incremental ${pct}%: bytes read <= 1.1 x changed bytes rounded up to chunks`,
      measured: vsRounded.median,
      met: vsRounded.median <= 1.1,
    });
    details[`pct${pct}`] = { writes: count, read, changed, rounded, ms };
  }
  await rm(repoDir, { recursive: true, force: true });
  await clearReferencePoints(disk.labDir);
  return {
    id: 'incremental',
    title: '2. Incremental',
    setup: `the ${sizeText(disk.virtualSize)} disk of 1.; scattered 64 KiB writes at 4 KiB-aligned random offsets; ${DEFAULT_CHUNK_SIZE / 1024} KiB chunks`,
    figures,
    goals,
    details,
  };
}
