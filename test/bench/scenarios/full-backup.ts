import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clearReferencePoints } from '../bench-env.js';
import type { BenchContext, DiskLab, KeptBackup } from '../bench-context.js';
import { runPeer } from '../run-peer.js';
import { runWorker } from '../run-worker.js';
import { figure, mbPerSec, MiB, ratioRuns, sizeText, type ScenarioResult } from '../stats.js';

/**
 * 1. Full backup of the disk (VHDX read from the array snapshot, hashed, stored) against `cp` of
 * the VHDX file and `qemu-img convert -O raw` of it. Every throughput is the VHDX file's size over
 * the wall time, so the ratios are ratios of times. `cp` then `sync FILE` (an fsync of the copy)
 * is shown beside plain `cp`, because hvsnap's figure includes making its chunks durable. Each
 * hvsnap run is a fresh worker process writing into an empty repository; the runs of the three
 * programs are interleaved. The last run's restore point is kept for the restore and the incrementals.
 */
export async function fullBackupScenario(ctx: BenchContext, disk: DiskLab): Promise<ScenarioResult & { fullMs: number[]; kept: KeptBackup }> {
  const dir = join(ctx.dir, 'full-backup');
  await mkdir(dir, { recursive: true });
  const rssMiB: number[] = [];
  const t = { hvsnap: [] as number[], copyStep: [] as number[], cp: [] as number[], cpSync: [] as number[], qemu: [] as number[] };
  let bytesRead = 0;
  let bytesWritten = 0;
  let kept: KeptBackup | undefined;
  for (let r = 0; r < ctx.runs; r++) {
    ctx.progress(`full backup: run ${r + 1}/${ctx.runs}`);
    const repoDir = join(dir, `repo-${r}`);
    const a = await runWorker({ kind: 'backup', labDir: disk.labDir, repoDir, forceFull: true });
    t.hvsnap.push(a.ms);
    t.copyStep.push(a.copyWallMs);
    rssMiB.push(a.peakRssBytes / MiB);
    bytesRead = a.bytesRead;
    bytesWritten = a.bytesWritten;
    if (r < ctx.runs - 1) {
      await rm(repoDir, { recursive: true, force: true });
      await clearReferencePoints(disk.labDir);
    } else {
      // the last restore point (and its reference point on the lab) serves the restore and the incrementals
      kept = { repoDir, restorePointId: a.vms[0].restorePointId, diskId: a.vms[0].diskIds[0] };
    }

    const copy = join(dir, 'cp.vhdx');
    const cpMs = await runPeer('cp', [disk.file, copy]);
    t.cp.push(cpMs);
    // hvsnap makes its chunks durable before it commits; cp alone leaves its copy in the page cache
    t.cpSync.push(cpMs + (await runPeer('sync', [copy])));
    await rm(copy, { force: true });
    const raw = join(dir, 'qemu.raw');
    t.qemu.push(await runPeer('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', disk.file, raw]));
    await rm(raw, { force: true });
  }
  const speed = (ms: number[]) => ms.map((x) => mbPerSec(disk.fileBytes, x));
  const ratio = figure('hvsnap / cp (throughput)', 'x', ratioRuns(t.cp, t.hvsnap));
  return {
    id: 'full-backup',
    title: '1. Full backup',
    setup: `${sizeText(disk.virtualSize)} disk, half data in 1 MiB runs, ${sizeText(disk.blockSize)} VHDX blocks; MB/s = VHDX file bytes (${sizeText(disk.fileBytes)}) / wall time`,
    figures: [
      figure('hvsnap full backup (whole job)', 'MB/s', speed(t.hvsnap)),
      figure('hvsnap copy + commit only', 'MB/s', speed(t.copyStep)),
      figure('cp of the VHDX', 'MB/s', speed(t.cp)),
      figure('cp, then sync of the copy (durable)', 'MB/s', speed(t.cpSync)),
      figure('qemu-img convert -O raw', 'MB/s', speed(t.qemu)),
      ratio,
      figure('hvsnap / (cp + sync) (throughput)', 'x', ratioRuns(t.cpSync, t.hvsnap)),
      figure('hvsnap / qemu-img (throughput)', 'x', ratioRuns(t.qemu, t.hvsnap)),
      figure('peak RSS of the hvsnap backup process', 'MiB', rssMiB),
    ],
    goals: [{ text: 'full backup >= 0.8 x cp throughput', measured: ratio.median, met: ratio.median >= 0.8 }],
    details: { virtualSize: disk.virtualSize, vhdxFileBytes: disk.fileBytes, blockSize: disk.blockSize, bytesRead, bytesWritten, ms: t },
    fullMs: t.hvsnap,
    kept: kept!,
  };
}
