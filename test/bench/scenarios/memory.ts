import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clearReferencePoints } from '../bench-env.js';
import type { BenchContext, DiskLab } from '../bench-context.js';
import { runWorker } from '../run-worker.js';
import { figure, MiB, ratioRuns, sizeText, type ScenarioResult } from '../stats.js';

/**
 * 6. Memory of the data mover: peak RSS of a backup process (one fresh worker per run) copying
 * a large disk against a small one, both half data. An idle worker that loads the same modules
 * gives the floor every process pays. Small and large runs are interleaved: the peak depends on
 * when the garbage collector runs, which the machine's load shifts.
 */
export async function memoryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const [small, large] = ctx.sizes.memoryDisks;
  const labs: DiskLab[] = [await ctx.diskLab(small), await ctx.diskLab(large)];
  const rss = [[] as number[], [] as number[]];
  const idle: number[] = [];
  let source = '';
  for (let r = 0; r < ctx.runs; r++) {
    ctx.progress(`memory: run ${r + 1}/${ctx.runs}`);
    const floor = await runWorker({ kind: 'idle' });
    idle.push(floor.peakRssBytes / MiB);
    source = floor.source;
    for (const [i, lab] of labs.entries()) {
      const repoDir = join(ctx.dir, `memory-repo-${i}`);
      const a = await runWorker({ kind: 'backup', labDir: lab.labDir, repoDir, forceFull: true });
      rss[i].push(a.peakRssBytes / MiB);
      await rm(repoDir, { recursive: true, force: true });
      await clearReferencePoints(lab.labDir);
    }
  }
  const ratio = figure(`peak RSS ${sizeText(large)} / ${sizeText(small)}`, 'x', ratioRuns(rss[1], rss[0]));
  return {
    id: 'memory',
    title: '6. Data mover memory',
    setup: `full backup of a ${sizeText(small)} and a ${sizeText(large)} disk, half data, ${sizeText(labs[0].blockSize)} VHDX blocks, default read concurrency; small and large runs interleaved`,
    figures: [
      figure('idle worker (floor)', 'MiB', idle),
      figure(`peak RSS, ${sizeText(small)} disk`, 'MiB', rss[0]),
      figure(`peak RSS, ${sizeText(large)} disk`, 'MiB', rss[1]),
      ratio,
      figure(
        'the same, above the idle floor',
        'x',
        ratioRuns(
          rss[1].map((x, i) => x - idle[i]),
          rss[0].map((x, i) => x - idle[i]),
        ),
      ),
    ],
    goals: [{ text: `data mover memory ${sizeText(large)} / ${sizeText(small)} <= 1.3`, measured: ratio.median, met: ratio.median <= 1.3 }],
    details: { rssMiB: { idle, small: rss[0], large: rss[1] }, rssSource: source },
  };
}
