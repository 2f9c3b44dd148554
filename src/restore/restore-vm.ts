import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import type { ConfigFile, VmInfo } from '../core/types.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import { journalDir } from '../core/names.js';
import type { Repository } from '../repository/index.js';
import type { RestorePointManifest } from '../repository/types.js';
import { restoreDisk, verifyDiskAgainstIndex, type RestoreDiskResult } from './restore-disk.js';
import { restoreFromSnapshot, type SnapshotAccess } from './restore-from-snapshot.js';
import { prepareRestoreTarget } from './restore-target.js';

export interface RestoreVmArgs {
  repository: Repository;
  restorePointId: string;
  /** local folder for the disks; created if missing */
  targetDir: string;
  /**
   * read every restored disk back and check it against the index (and give its SHA-256); default
   * false for a restore from the repository (its chunks are checked as they are read), true for one
   * from a retained array snapshot
   */
  verify?: boolean;
  /** import the VM on a host once the disks are in place */
  import?: {
    hypervisor: Hypervisor;
    /** how the host sees `targetDir`, e.g. `C:\ClusterStorage\Volume1\Restore` */
    hostDir: string;
    /** a new VM id (restore beside the original) or the same (replace it) */
    newId: boolean;
    name?: string;
  };
  /** keep each disk's virtual disk id (as Hyper-V's export does); default only for a same-id import */
  keepVirtualDiskId?: boolean;
  /** for snapshot-only restore points: the array that keeps the snapshot, and a proxy to read it */
  snapshotAccess?: SnapshotAccess;
  /** where a snapshot-only restore journals its presentation; default `<repository>/.journal` */
  journalDir?: string;
  logger?: Logger;
  signal?: AbortSignal;
  onProgress?: (p: { disk: string; doneBytes: number; totalBytes: number }) => void;
}

export interface RestoreVmResult {
  restorePointId: string;
  vm: string;
  /** `sha256`: of the whole virtual disk, when it was read back (`verify`) */
  disks: Array<RestoreDiskResult & { diskId: string; verified: boolean; sha256?: string }>;
  imported?: VmInfo;
}

/**
 * Restores every disk of a restore point as a VHDX, verifies it, and optionally imports the VM.
 * Nothing is overwritten: a target that exists is refused before anything is written. Disks are
 * written in a private folder and linked into place only when all of them are verified; a restore (or
 * import) that fails removes every file it wrote.
 */
export async function restoreVm(args: RestoreVmArgs): Promise<RestoreVmResult> {
  const manifest = await args.repository.getRestorePoint(args.restorePointId);
  if (manifest.mode === 'snapshot-only' && !args.snapshotAccess) {
    throw new HvsnapError(
      'input_invalid',
      `restore point ${manifest.id} is snapshot-only: its disks are in array snapshot ${manifest.arraySnapshots.map((s) => s.name).join(', ')}; restore it with the job configuration that names that array and a proxy`,
      { context: { restorePoint: manifest.id } },
    );
  }
  const sources = manifest.mode === 'snapshot-only' ? (manifest.snapshotDisks ?? []) : manifest.disks;
  const targets = targetPaths(
    args.targetDir,
    sources.map((d) => d.sourcePath),
  );
  // disks are written in a private folder this restore creates, then linked into place: nothing
  // planted in the target folder (a file, a link to elsewhere) is ever written through or replaced
  const target = await prepareRestoreTarget(args.targetDir, targets);
  const partial = target.temp;
  try {
    const disks =
      manifest.mode === 'snapshot-only' ? await disksFromSnapshot(args, manifest, partial) : await disksFromRepository(args, manifest, partial, targets);
    await target.publish();
    for (const [i, d] of disks.entries()) d.target = targets[i];
    const imported = args.import ? await importVm(args, args.import, manifest, disks) : undefined;
    return { restorePointId: args.restorePointId, vm: manifest.vm.name, disks, imported };
  } catch (e) {
    // nothing half-restored stays: the private folder, and the disks of a failed import
    await target.discard();
    throw e;
  }
}

/** A snapshot-only restore point: its disks come out of the retained array snapshot, through the proxy. */
function disksFromSnapshot(args: RestoreVmArgs, manifest: RestorePointManifest, partial: string[]): Promise<RestoreVmResult['disks']> {
  return restoreFromSnapshot({
    manifest,
    access: args.snapshotAccess!,
    targets: partial,
    verify: args.verify ?? true,
    keepVirtualDiskId: args.keepVirtualDiskId ?? (args.import ? !args.import.newId : false),
    journalDir: args.journalDir ?? journalDir(args.repository.path),
    logger: args.logger,
    signal: args.signal,
  });
}

/**
 * An offload restore point: each disk rebuilt from the repository's chunks (each checked as it is
 * read, see Repository.leaseChunks; with `verify` the written disk is read back too), under a shared (reader) lock of
 * the repository.
 */
async function disksFromRepository(
  args: RestoreVmArgs,
  manifest: RestorePointManifest,
  partial: string[],
  targets: string[],
): Promise<RestoreVmResult['disks']> {
  // held while the chunks are read: a gc in another process refuses meanwhile instead of removing packs under us
  const lock = await args.repository.lockForReading(`restore of restore point ${args.restorePointId}`);
  try {
    return await disksFromChunks(args, manifest, partial, targets);
  } finally {
    await lock.release();
  }
}

async function disksFromChunks(args: RestoreVmArgs, manifest: RestorePointManifest, partial: string[], targets: string[]): Promise<RestoreVmResult['disks']> {
  const log = args.logger ?? silentLogger;
  const disks: RestoreVmResult['disks'] = [];
  for (const [i, d] of manifest.disks.entries()) {
    const result = await restoreDisk({
      repository: args.repository,
      restorePointId: args.restorePointId,
      diskId: d.diskId,
      target: partial[i],
      keepVirtualDiskId: args.keepVirtualDiskId ?? (args.import ? !args.import.newId : false),
      signal: args.signal,
      onProgress: (doneBytes, totalBytes) => args.onProgress?.({ disk: d.diskId, doneBytes, totalBytes }),
    });
    let verified = false;
    let sha256: string | undefined;
    if (args.verify ?? false) {
      const check = await verifyDiskAgainstIndex(partial[i], await args.repository.readIndex(args.restorePointId, d.diskId), args.signal);
      if (check.mismatches.length) {
        throw new HvsnapError(
          'integrity_failed',
          `restored disk ${targets[i]} differs from restore point ${args.restorePointId} in ${check.mismatches.length} chunk(s)`,
          { context: { disk: d.diskId, file: targets[i] } },
        );
      }
      verified = true;
      sha256 = check.sha256;
    }
    log.info({ disk: d.diskId, target: targets[i], bytes: result.bytesRestored }, 'disk restored');
    disks.push({ ...result, diskId: d.diskId, verified, ...(sha256 && { sha256 }) });
  }
  return disks;
}

/** Imports the VM on the host with its restored configuration and disks (seen from the host at `hostDir`). */
async function importVm(
  args: RestoreVmArgs,
  target: NonNullable<RestoreVmArgs['import']>,
  manifest: RestorePointManifest,
  disks: RestoreVmResult['disks'],
): Promise<VmInfo> {
  const config: ConfigFile[] = [];
  for (const name of manifest.configFiles) {
    config.push({ name: name.replace(/^config\//, ''), data: await args.repository.readConfigFile(args.restorePointId, name) });
  }
  const diskPaths = Object.fromEntries(disks.map((d) => [d.diskId, `${target.hostDir}\\${d.target.split(/[\\/]/).pop()}`]));
  return target.hypervisor.importVm({ config, diskPaths, newId: target.newId, name: target.name }, { signal: args.signal });
}

/** One file per disk, named after the source file; two disks with one name get distinct names. */
function targetPaths(dir: string, sourcePaths: string[]): string[] {
  const used = new Set<string>();
  return sourcePaths.map((p, i) => {
    const base =
      p
        .split(/[\\/]/)
        .pop()
        ?.replace(/\.a?vhdx$/i, '') || `disk${i}`;
    let name = `${base}.vhdx`;
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${base}-${n}.vhdx`;
    used.add(name.toLowerCase());
    return join(dir, name);
  });
}
