import { checkpointName } from '../core/names.js';
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runBackup } from '../backup/backup-job.js';
import type { BackupReport } from '../backup/types.js';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Checkpoint } from '../core/types.js';
import { createLab, labPinFrozen, labWrite } from '../lab/index.js';
import { restoreVm } from '../restore/restore-vm.js';
import { vhdxSha256 } from '../vhdx/index.js';
import { parseJobConfig } from '../job/config.js';
import { openEnvironment } from '../job/environment.js';

export interface DemoArgs {
  /** folder for the lab and the repository; default a new temporary folder */
  dir?: string;
  /**
   * keep the folder afterwards (default: only when `dir` was given). A demo that fails or throws
   * always keeps it, to be looked at.
   */
  keep?: boolean;
  vms?: number;
  volumes?: number;
  diskSizeBytes?: number;
  dataBytes?: number;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: { vm: string; disk: string; doneBytes: number; totalBytes: number }) => void;
}

export interface DemoResult {
  dir: string;
  /** whether `dir` is still there (false: removed at the end) */
  kept: boolean;
  full: BackupReport;
  incremental: BackupReport;
  /** writes made between the backups and while the incremental ran */
  writesBetween: number;
  writesDuring: number;
  restores: Array<{ vm: string; restorePointId: string; disks: number; identical: boolean; verified: boolean }>;
  ok: boolean;
}

/**
 * The whole offload backup on a lab, as a newcomer should see it: a full backup, writes, an
 * incremental backup with writes landing while it runs, then every restore point restored and
 * compared byte for byte with the disk as it was when its checkpoint was taken.
 */
export async function runDemo(args: DemoArgs): Promise<DemoResult> {
  const dir = args.dir ? resolve(args.dir) : await mkdtemp(join(tmpdir(), 'hvsnap-demo-'));
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw new HvsnapError('input_invalid', `demo folder ${dir} is not empty`, { context: { path: dir, field: 'dir' } });
  const keep = args.keep ?? args.dir !== undefined;
  let succeeded = false;
  const labDir = join(dir, 'lab');
  const log = args.logger;
  await createLab({
    dir: labDir,
    vms: args.vms ?? 6,
    volumes: args.volumes ?? 2,
    diskSizeBytes: args.diskSizeBytes ?? 64 << 20,
    dataBytes: args.dataBytes ?? 16 << 20,
  });
  // the same composition root as a job configuration file would use
  const config = parseJobConfig(
    {
      hypervisor: { kind: 'lab', dir: labDir },
      provider: { name: 'lab', config: { volumesDir: join(labDir, 'volumes'), stateDir: join(labDir, 'array') } },
      proxy: { kind: 'local', host: { name: 'demo-proxy' } },
      repository: { path: join(dir, 'repository'), create: true },
    },
    join(dir, 'demo.yaml'),
  );
  const env = await openEnvironment(config, log);
  const { repository } = env;
  try {
    // the disk of every VM as its checkpoint froze it, kept to compare restores with
    const frozen = new Map<string, Record<string, string>>();
    const pin = async (cps: Checkpoint[]) => {
      for (const cp of cps) frozen.set(`${cp.vmName}@${cp.name}`, await labPinFrozen(labDir, cp, join(dir, 'frozen')));
    };

    const full = await runBackup(env, { hooks: { onCheckpoints: pin }, signal: args.signal, onProgress: args.onProgress });
    const vmNames = full.vms.map((v) => v.vm);
    let writesBetween = 0;
    for (const [i, vm] of vmNames.entries()) {
      // most VMs change a little between backups; one changes nothing
      if (i !== 1) writesBetween += (await labWrite({ dir: labDir, vm, count: 2 + (i % 3) * 3, sizeBytes: 64 << 10, seed: 100 + i })).writes.length;
    }
    let writesDuring = 0;
    const during: Promise<unknown>[] = [];
    const incremental = await runBackup(env, {
      hooks: {
        onCheckpoints: async (cps) => {
          await pin(cps);
          // the guests keep writing while the backup runs: into the AVHDX now, into the base after the merge
          for (const [i, vm] of vmNames.entries()) {
            during.push(labWrite({ dir: labDir, vm, count: 4, sizeBytes: 64 << 10, seed: 200 + i }).then((r) => (writesDuring += r.writes.length)));
          }
        },
      },
      signal: args.signal,
      onProgress: args.onProgress,
    });
    await Promise.all(during);

    const restores: DemoResult['restores'] = [];
    for (const report of [full, incremental]) {
      for (const v of report.vms.filter((x) => x.restorePointId)) {
        const target = join(dir, 'restored', v.restorePointId!);
        const result = await restoreVm({ repository, restorePointId: v.restorePointId!, targetDir: target, verify: true, logger: log, signal: args.signal });
        const pinned = frozen.get(`${v.vm}@${checkpointName(report.jobId)}`) ?? {};
        let identical = result.disks.length > 0;
        for (const d of result.disks) identical &&= !!pinned[d.diskId] && (await vhdxSha256(pinned[d.diskId])) === d.sha256;
        restores.push({ vm: v.vm, restorePointId: v.restorePointId!, disks: result.disks.length, identical, verified: result.disks.every((d) => d.verified) });
      }
    }
    const ok = full.ok && incremental.ok && restores.length === full.vms.length + incremental.vms.length && restores.every((r) => r.identical && r.verified);
    succeeded = ok;
    return { dir, kept: !ok || keep, full, incremental, writesBetween, writesDuring, restores, ok };
  } finally {
    await env.close();
    // a few hundred MiB of lab disks, repository and restores: gone unless asked for, or needed to look into a failure
    if (succeeded && !keep) await rm(dir, { recursive: true, force: true });
  }
}
