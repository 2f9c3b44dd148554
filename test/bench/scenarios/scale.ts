import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createLab } from '../../../src/lab/index.js';
import { clearReferencePoints } from '../bench-env.js';
import type { BenchContext } from '../bench-context.js';
import { runWorker } from '../run-worker.js';
import { figure, MiB, sizeText, type ScenarioResult } from '../stats.js';

/**
 * 4. Scale: every VM of a lab with many VMs on a few volumes in one job. Figures: array snapshot
 * sets taken, orchestration time (the job's wall time minus the time during which some VM was in
 * its copy step), and the worker's peak RSS.
 */
export async function scaleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const { scaleVms: vms, scaleVolumes: volumes, scaleDiskBytes: diskBytes } = ctx.sizes;
  const labDir = join(ctx.dir, 'scale', 'lab');
  ctx.progress(`scale: building a lab of ${vms} VMs on ${volumes} volumes`);
  await createLab({ dir: labDir, vms, volumes, diskSizeBytes: diskBytes, dataBytes: MiB, seed: 3 });
  const sets: number[] = [];
  const total: number[] = [];
  const orchestration: number[] = [];
  const rss: number[] = [];
  const lifetimeMax: number[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    ctx.progress(`scale: run ${r + 1}/${ctx.runs}`);
    const repoDir = join(ctx.dir, 'scale', `repo-${r}`);
    const a = await runWorker({ kind: 'backup', labDir, repoDir, forceFull: true });
    if (a.vms.length !== vms) throw new Error(`scale run ${r + 1}: ${a.vms.length} VMs backed up, expected ${vms}`);
    sets.push(a.snapshotSets);
    total.push(a.ms);
    orchestration.push(a.ms - a.copyWallMs);
    rss.push(a.peakRssBytes / MiB);
    lifetimeMax.push(Math.max(...a.vms.map((v) => v.checkpointLifetimeMs)));
    await rm(repoDir, { recursive: true, force: true });
    await clearReferencePoints(labDir);
  }
  await rm(join(ctx.dir, 'scale'), { recursive: true, force: true });
  const setsFigure = figure('array snapshot sets taken', 'count', sets);
  return {
    id: 'scale',
    title: '4. Scale',
    setup: `${vms} VMs on ${volumes} volumes in one job, ${sizeText(diskBytes)} disks with 1 MiB of data, 1 MiB VHDX blocks (block size is irrelevant here)`,
    figures: [
      setsFigure,
      figure('orchestration time (job minus copy)', 'ms', orchestration),
      figure('whole job', 'ms', total),
      figure('longest checkpoint lifetime', 'ms', lifetimeMax),
      figure('peak RSS of the backup process', 'MiB', rss),
    ],
    goals: [
      {
        text: `${vms} VMs on ${volumes} volumes take ${volumes} snapshot sets (most taken in a run)`,
        measured: setsFigure.max,
        met: setsFigure.max === volumes && setsFigure.min === volumes,
      },
    ],
    details: { vms, volumes, diskBytes },
  };
}
