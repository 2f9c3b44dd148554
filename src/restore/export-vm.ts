import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import type { Repository } from '../repository/index.js';
import type { SnapshotAccess } from './restore-from-snapshot.js';
import { removeKilledRestoreFolders } from './restore-target.js';
import { restoreVm, type RestoreVmResult } from './restore-vm.js';

/** The folders of Hyper-V's export layout (Export-VM: "Snapshots, Virtual Hard Disks, and Virtual Machines"). */
export const EXPORT_VM_FOLDER = 'Virtual Machines';
export const EXPORT_DISK_FOLDER = 'Virtual Hard Disks';

export interface ExportVmArgs {
  repository: Repository;
  restorePointId: string;
  /** the export folder; the VM gets `<to>/<VM name>/`, as Export-VM makes it */
  to: string;
  /** read every disk back and check it against the restore point; default true */
  verify?: boolean;
  /** for snapshot-only restore points: the array that keeps the snapshot, and a proxy to read it */
  snapshotAccess?: SnapshotAccess;
  logger?: Logger;
  signal?: AbortSignal;
  onProgress?: (p: { disk: string; doneBytes: number; totalBytes: number }) => void;
}

export interface ExportVmResult extends RestoreVmResult {
  /** `<to>/<VM name>` */
  dir: string;
  /** the configuration files written, relative to `dir` (`Virtual Machines/<id>.vmcx`, …) */
  configFiles: string[];
}

/**
 * Writes a restore point in Hyper-V's export layout, so `Import-VM` (or Hyper-V Manager's Import)
 * takes it on any host without hvsnap:
 *
 * ```
 * <to>/<VM name>/Virtual Machines/<VM id>.vmcx, .vmrs, .vmgs   the stored configuration, byte for byte
 * <to>/<VM name>/Virtual Hard Disks/<file name>.vhdx          each disk, under the file name the configuration uses
 * ```
 *
 * The configuration files are the ones the host exported at backup time and are never rewritten
 * (the .vmcx is binary and checksummed by Hyper-V); each disk keeps its virtual disk id, as an
 * Export-VM copy does. The VM folder must not exist (or be empty); on any failure the VM folder
 * is removed again, so a half-written export never looks like an export.
 */
export async function exportVm(args: ExportVmArgs): Promise<ExportVmResult> {
  const log = args.logger ?? silentLogger;
  const manifest = await args.repository.getRestorePoint(args.restorePointId);
  const dir = join(args.to, safeFolderName(manifest.vm.name));
  // the VM folder and its disk folder are created with a recursive mkdir, which follows a link:
  // a link planted at either name is refused, never written through (nor emptied on failure)
  for (const p of [dir, join(dir, EXPORT_DISK_FOLDER), join(dir, EXPORT_VM_FOLDER)]) {
    if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) {
      throw new HvsnapError('already_exists', `${p} is a link planted in the way (never followed); choose another --to folder`, { context: { file: p } });
    }
  }
  // what a killed export leaves: its private folder in the disk folder, which alone does not make the VM folder taken
  if (existsSync(join(dir, EXPORT_DISK_FOLDER))) {
    await removeKilledRestoreFolders(join(dir, EXPORT_DISK_FOLDER));
    await rmdir(join(dir, EXPORT_DISK_FOLDER)).catch(() => undefined); // only when empty
  }
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    throw new HvsnapError('already_exists', `${dir} exists and is not empty; an export never overwrites (choose another --to folder)`, {
      context: { file: dir },
    });
  }
  const existed = existsSync(dir);
  try {
    const restored = await restoreVm({
      repository: args.repository,
      restorePointId: args.restorePointId,
      targetDir: join(dir, EXPORT_DISK_FOLDER),
      verify: args.verify,
      keepVirtualDiskId: true,
      snapshotAccess: args.snapshotAccess,
      logger: log,
      signal: args.signal,
      onProgress: args.onProgress,
    });
    const configFiles: string[] = [];
    for (const stored of manifest.configFiles) {
      const rel = stored.replace(/^config\//, '');
      const file = resolve(dir, rel);
      if (!file.startsWith(resolve(dir) + sep)) {
        throw new HvsnapError('integrity_failed', `restore point ${manifest.id} names configuration file ${JSON.stringify(stored)} outside its folder`, {
          context: { restorePoint: manifest.id, file: stored },
        });
      }
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, await args.repository.readConfigFile(args.restorePointId, stored), { flag: 'wx' });
      configFiles.push(relative(dir, file).split(sep).join('/'));
    }
    if (!configFiles.some((f) => f.toLowerCase().endsWith('.vmcx'))) {
      log.warn({ restorePoint: manifest.id }, 'the restore point stores no .vmcx: the export holds the disks only, and Import-VM cannot take it');
    }
    log.info({ restorePoint: manifest.id, dir, disks: restored.disks.length, configFiles: configFiles.length }, 'restore point exported in Hyper-V layout');
    return { ...restored, dir, configFiles };
  } catch (e) {
    await (existed
      ? Promise.all((await readdir(dir).catch(() => [])).map((f) => rm(join(dir, f), { recursive: true, force: true })))
      : rm(dir, { recursive: true, force: true }));
    throw e;
  }
}

/** A VM name as a folder name: path separators and characters Windows forbids become `_`. */
export function safeFolderName(name: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what Windows forbids in names
  const cleaned = name.replace(/[<>:"/\\|?*\x00-\x1f]/g, '_').replace(/[. ]+$/, '');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'vm' : cleaned;
}
