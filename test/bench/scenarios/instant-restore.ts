import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runBackup } from '../../../src/backup/backup-job.js';
import { LabInstantHost } from '../../../src/lab/lab-instant-host.js';
import { discardInstant, instantRestore, type InstantEnv } from '../../../src/restore/instant/instant-restore.js';
import { openBenchEnv } from '../bench-env.js';
import { createDiskLab, type BenchContext } from '../bench-context.js';
import { figure, GiB, MiB, ratioRuns, sizeText, type ScenarioResult } from '../stats.js';

const SIZES = [64 * MiB, GiB];
const DATA = 16 * MiB;

/**
 * 10. Instant restore: wall time of `instantRestore` (clone presented to the host, LUN online, VM
 * imported and started) of a snapshot-only restore point, for a 64 MiB and a 1 GiB disk holding
 * the same amount of data; each run is discarded (untimed) before the next. No byte is copied, so
 * the goal is a ratio near 1.
 */
export async function instantRestoreScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const envs: Array<{ env: InstantEnv; restorePointId: string }> = [];
  for (const size of SIZES) {
    ctx.progress(`instant restore: building the ${sizeText(size)} lab and its snapshot-only restore point`);
    const lab = await createDiskLab({ dir: join(ctx.dir, `instant-${size}`), diskBytes: size, dataBytes: DATA });
    const env = await openBenchEnv(lab.labDir, join(ctx.dir, `instant-repo-${size}`));
    const report = await runBackup(env, { policy: { mode: 'snapshot-only' } });
    if (!report.ok) throw new Error(`the snapshot-only backup of the ${sizeText(size)} lab failed`);
    const host = new LabInstantHost(lab.labDir);
    envs.push({ env: { ...env, hostFor: () => host }, restorePointId: report.vms[0].restorePointId! });
  }
  const times = SIZES.map(() => [] as number[]);
  for (let r = 0; r < ctx.runs; r++) {
    ctx.progress(`instant restore: run ${r + 1}/${ctx.runs}`);
    for (let k = 0; k < SIZES.length; k++) {
      const i = (k + r) % SIZES.length;
      const { env, restorePointId } = envs[i];
      const t0 = performance.now();
      const s = await instantRestore(env, { restorePointId, hostName: 'bench-host', start: true });
      times[i].push(performance.now() - t0);
      await discardInstant(env, { id: s.id });
    }
  }
  for (const [i, { env }] of envs.entries()) {
    await env.repository.close();
    await rm(join(ctx.dir, `instant-${SIZES[i]}`), { recursive: true, force: true });
  }
  const [small, large] = [
    figure(`instant restore, ${sizeText(SIZES[0])} disk`, 'ms', times[0]),
    figure(`instant restore, ${sizeText(SIZES[1])} disk`, 'ms', times[1]),
  ];
  const ofMedians = large.median / small.median;
  return {
    id: 'instant-restore',
    title: '10. Instant restore',
    setup: `lab array clone presented to the lab host, LUN online, VM imported and started; ${sizeText(DATA)} of data in each disk`,
    figures: [small, large, figure(`instant restore ${sizeText(SIZES[1])} / ${sizeText(SIZES[0])}, per round`, 'x', ratioRuns(times[1], times[0]))],
    goals: [{ text: 'instant restore time 1 GiB / 64 MiB <= 1.5 (ratio of the medians)', measured: ofMedians, met: ofMedians <= 1.5 }],
    details: { ratioOfMedians: ofMedians, timesMs: Object.fromEntries(SIZES.map((s, i) => [s, times[i]])) },
  };
}
