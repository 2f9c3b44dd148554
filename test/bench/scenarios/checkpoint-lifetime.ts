import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clearReferencePoints } from '../bench-env.js';
import { createDiskLab, type BenchContext, type DiskLab } from '../bench-context.js';
import { runWorker } from '../run-worker.js';
import { figure, ratioRuns, sizeText, type ScenarioResult } from '../stats.js';

/**
 * 3. Checkpoint lifetime (from asking for the checkpoint to its conversion into a reference point)
 * of a sparse disk at each size, same data in each; the ratio largest / smallest of the medians
 * (the goal) and per round (its spread).
 * Rounds interleave the sizes, each round starting with the next one, so that machine noise and
 * the first-run-of-a-round penalty fall on all of them alike.
 */
export async function checkpointLifetimeScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const sizes = ctx.sizes.lifetimeDisks;
  const labs: DiskLab[] = [];
  for (const size of sizes) {
    ctx.progress(`checkpoint lifetime: building the ${sizeText(size)} lab`);
    labs.push(await createDiskLab({ dir: join(ctx.dir, `lifetime-${size}`), diskBytes: size, dataBytes: ctx.sizes.lifetimeDataBytes }));
  }
  const lifetimes = sizes.map(() => [] as number[]);
  // tens of ms on a shared machine: two more runs than the others, at a cost of a second or two each
  const runs = ctx.runs + 2;
  for (let r = 0; r < runs; r++) {
    ctx.progress(`checkpoint lifetime: run ${r + 1}/${runs}`);
    for (let k = 0; k < labs.length; k++) {
      const i = (k + r) % labs.length; // each round starts with another size
      const lab = labs[i];
      const repoDir = join(ctx.dir, `lifetime-repo-${i}`);
      const a = await runWorker({ kind: 'backup', labDir: lab.labDir, repoDir, forceFull: true });
      lifetimes[i].push(a.vms[0].checkpointLifetimeMs);
      await rm(repoDir, { recursive: true, force: true });
      await clearReferencePoints(lab.labDir);
    }
  }
  for (const lab of labs) await rm(join(lab.labDir, '..'), { recursive: true, force: true });
  const [first, last] = [figure('smallest', 'ms', lifetimes[0]), figure('largest', 'ms', lifetimes[lifetimes.length - 1])];
  // tens of ms jitter by tens of ms here: the goal is judged on the ratio of the medians, the per-round ratios show the spread
  const ofMedians = last.median / first.median;
  const ratio = figure(`lifetime ${sizeText(sizes[sizes.length - 1])} / ${sizeText(sizes[0])}, per round`, 'x', ratioRuns(last.runs, first.runs));
  return {
    id: 'checkpoint-lifetime',
    title: '3. Checkpoint lifetime',
    setup: `sparse disks of ${sizes.map(sizeText).join(', ')} with ${sizeText(ctx.sizes.lifetimeDataBytes)} of data each, ${sizeText(labs[0].blockSize)} VHDX blocks, 1 VM`,
    figures: [...sizes.map((s, i) => figure(`lifetime, ${sizeText(s)} disk`, 'ms', lifetimes[i])), ratio],
    goals: [{ text: 'checkpoint lifetime largest / smallest <= 1.2 (ratio of the medians)', measured: ofMedians, met: ofMedians <= 1.2 }],
    details: { ratioOfMedians: ofMedians, lifetimesMs: Object.fromEntries(sizes.map((s, i) => [s, lifetimes[i]])) },
  };
}
