import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext, DiskLab, KeptBackup } from '../bench-context.js';
import { HYPERV_BLOCK } from '../bench-context.js';
import { runPeer } from '../run-peer.js';
import { runWorker } from '../run-worker.js';
import { figure, mbPerSec, ratioRuns, sizeText, type ScenarioResult } from '../stats.js';

/**
 * 5. Restore: rebuild the disk of a full restore point (the last one of scenario 1 when given) as a dynamic VHDX (32 MiB blocks) against
 * `qemu-img convert -O vhdx` of a raw file of the same content; then verify the rebuilt VHDX
 * against the index, against `qemu-img compare` of it with the raw file (which also proves the
 * restore right). Throughputs are virtual disk bytes over wall time.
 */
export async function restoreScenario(ctx: BenchContext, disk: DiskLab, from?: KeptBackup): Promise<ScenarioResult> {
  const dir = join(ctx.dir, 'restore');
  await mkdir(dir, { recursive: true });
  let source = from;
  if (!source) {
    ctx.progress('restore: the full backup to restore from');
    const repoDir = join(dir, 'repo');
    const backup = await runWorker({ kind: 'backup', labDir: disk.labDir, repoDir, forceFull: true });
    source = { repoDir, restorePointId: backup.vms[0].restorePointId, diskId: backup.vms[0].diskIds[0] };
  }
  const { repoDir, restorePointId, diskId } = source;
  const raw = join(dir, 'source.raw');
  await runPeer('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', disk.file, raw]);
  const t = { restore: [] as number[], qemu: [] as number[], verify: [] as number[], compare: [] as number[] };
  for (let r = 0; r < ctx.runs; r++) {
    ctx.progress(`restore: run ${r + 1}/${ctx.runs}`);
    const target = join(dir, 'restored.vhdx');
    const a = await runWorker({ kind: 'restore', repoDir, restorePointId, diskId, target });
    t.restore.push(a.restoreMs);
    t.verify.push(a.verifyMs);
    t.compare.push(await runPeer('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', target, raw]));
    await rm(target, { force: true });
    const peer = join(dir, 'qemu.vhdx');
    t.qemu.push(await runPeer('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', `subformat=dynamic,block_size=${HYPERV_BLOCK}`, raw, peer]));
    await rm(peer, { force: true });
  }
  await rm(dir, { recursive: true, force: true });
  const speed = (ms: number[]) => ms.map((x) => mbPerSec(disk.virtualSize, x));
  return {
    id: 'restore',
    title: '5. Restore',
    setup: `the ${sizeText(disk.virtualSize)} disk of 1. rebuilt as a dynamic VHDX with ${sizeText(HYPERV_BLOCK)} blocks; MB/s = virtual bytes / wall time`,
    figures: [
      figure('hvsnap restore to VHDX', 'MB/s', speed(t.restore)),
      figure('qemu-img convert raw -> vhdx', 'MB/s', speed(t.qemu)),
      figure('hvsnap / qemu-img (restore throughput)', 'x', ratioRuns(t.qemu, t.restore)),
      figure('hvsnap verify against the index', 'MB/s', speed(t.verify)),
      figure('qemu-img compare with the raw file', 'MB/s', speed(t.compare)),
    ],
    goals: [],
    details: { virtualSize: disk.virtualSize, ms: t },
  };
}
