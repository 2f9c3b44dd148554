import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openRepository } from '../../../src/repository/index.js';
import { mountRestorePoint } from '../../../src/restore/mount/mount-restore-point.js';
import { repositorySource } from '../../../src/restore/restore-point-source.js';
import { createDiskLab, type BenchContext } from '../bench-context.js';
import { runWorker } from '../run-worker.js';
import { figure, GiB, MiB, ratioRuns, sizeText, type ScenarioResult } from '../stats.js';

const run = promisify(execFile);
const SIZES = [64 * MiB, GiB];
const DATA = 16 * MiB;

/**
 * 9. Mount, time to first byte: from `mountRestorePoint` (repository already open) to the first
 * 4 KiB of the synthesized VHDX's first data block read by `dd` through FUSE, for a 64 MiB and a
 * 1 GiB disk with the same amount of data; the goal is that the ratio stays near 1 (nothing is
 * restored first). Needs root and /dev/fuse; reported as skipped otherwise.
 */
export async function mountFirstByteScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const base = { id: 'mount-first-byte', title: '9. Mount: time to first byte' };
  if (process.getuid?.() !== 0 || !existsSync('/dev/fuse')) {
    return { ...base, setup: 'skipped: needs root and /dev/fuse', figures: [], goals: [], details: { skipped: 'needs root and /dev/fuse' } };
  }
  const points: Array<{ repoDir: string; restorePointId: string }> = [];
  for (const size of SIZES) {
    ctx.progress(`mount: building and backing up the ${sizeText(size)} disk`);
    const lab = await createDiskLab({ dir: join(ctx.dir, `mount-${size}`), diskBytes: size, dataBytes: DATA });
    const repoDir = join(ctx.dir, `mount-repo-${size}`);
    const backup = await runWorker({ kind: 'backup', labDir: lab.labDir, repoDir, forceFull: true });
    points.push({ repoDir, restorePointId: backup.vms[0].restorePointId });
  }
  const times = SIZES.map(() => [] as number[]);
  for (let r = 0; r < ctx.runs; r++) {
    ctx.progress(`mount: run ${r + 1}/${ctx.runs}`);
    for (let k = 0; k < SIZES.length; k++) {
      const i = (k + r) % SIZES.length;
      const dir = join(ctx.dir, `mnt-${i}`);
      await mkdir(dir, { recursive: true });
      const repository = await openRepository({ path: points[i].repoDir });
      try {
        const t0 = performance.now();
        const m = await mountRestorePoint({ source: repositorySource(repository), restorePointId: points[i].restorePointId, dir });
        try {
          const vhdx = join(
            dir,
            m.files.find((f) => f.endsWith('.vhdx'))!,
          );
          // the metadata and BAT take the first 4 MiB; the first data block starts there
          await run('dd', [`if=${vhdx}`, 'of=/dev/null', 'bs=4096', 'count=1', `skip=${(4 * MiB) / 4096}`]);
          times[i].push(performance.now() - t0);
        } finally {
          await m.unmount();
        }
      } finally {
        await repository.close();
      }
    }
  }
  for (const p of points) await rm(p.repoDir, { recursive: true, force: true });
  const [small, large] = [figure(`first byte, ${sizeText(SIZES[0])} disk`, 'ms', times[0]), figure(`first byte, ${sizeText(SIZES[1])} disk`, 'ms', times[1])];
  const ofMedians = large.median / small.median;
  return {
    ...base,
    setup: `dynamic VHDX synthesized from the chunk index, ${sizeText(DATA)} of data in each disk; mount + first 4 KiB of data through FUSE`,
    figures: [small, large, figure(`first byte ${sizeText(SIZES[1])} / ${sizeText(SIZES[0])}, per round`, 'x', ratioRuns(times[1], times[0]))],
    goals: [{ text: 'time to first byte 1 GiB / 64 MiB <= 1.5 (ratio of the medians)', measured: ofMedians, met: ofMedians <= 1.5 }],
    details: { ratioOfMedians: ofMedians, timesMs: Object.fromEntries(SIZES.map((s, i) => [s, times[i]])) },
  };
}
