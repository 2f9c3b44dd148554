import { resolve } from 'node:path';
import { HvsnapError, errorSummary } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { silentLogger } from '../../core/logger.js';
import { safeFolderName } from '../export-vm.js';
import type { RestorePointSource } from '../restore-point-source.js';
import { ChunkedDisk, sliceImage } from './chunked-disk.js';
import { loadFuse, type FuseBinding, type FuseMount } from './fuse-binding.js';
import { treeOps } from './fuse-ops.js';
import { mountsUnder, unmountPoint } from './mount-table.js';
import { ntfsMount } from './ntfs-mount.js';
import { buildTree, diskNames, type DiskEntry } from './mount-tree.js';
import { readPartitions } from './partitions.js';
import { syntheticVhdx } from './synthetic-vhdx.js';

export interface MountRestorePointArgs {
  source: RestorePointSource;
  restorePointId: string;
  /** an existing, empty folder */
  dir: string;
  /** also mount each NTFS partition read-only with ntfs-3g (needs root) */
  files?: boolean;
  logger?: Logger;
  /** the FUSE binding; default the optional dependency */
  fuse?: FuseBinding;
  /** how often to look whether the mount was taken away from outside (ms); default 1000 */
  pollMs?: number;
}

export interface MountedRestorePoint {
  dir: string;
  /** the files served, relative to `dir` (`<vm>/<disk>.vhdx`, `<vm>/<disk>.raw`, …) */
  files: string[];
  /** the NTFS volumes mounted below `dir`, relative to it (`<vm>/<disk>-p2`) */
  volumes: string[];
  /** Unmounts the NTFS volumes, then the FUSE file system. Idempotent. */
  unmount(): Promise<void>;
  /** settles when the mount is gone: after unmount(), or when `hvsnap umount` took it away */
  closed: Promise<void>;
}

/**
 * Serves a restore point read-only through FUSE without restoring it first: `<dir>/<VM>/` holds,
 * per disk, a dynamic VHDX synthesized from the chunk index (`<disk>.vhdx`) and the raw image
 * (`<disk>.raw`); with `files`, each NTFS partition N is also served as `<disk>-pN.img` and
 * mounted read-only by ntfs-3g on `<disk>-pN/`, so single files can be copied out. Data is read
 * from the chunks (verified) as it is asked for. A failure while mounting unmounts what it
 * mounted. The source is held (a repository's shared lock) from the start until the unmount, so
 * garbage collection refuses while the mount serves; the hold's `release` MUST be idempotent.
 */
export async function mountRestorePoint(args: MountRestorePointArgs): Promise<MountedRestorePoint> {
  const dir = resolve(args.dir);
  // held until unmounted: gc refuses meanwhile (naming this mount), so no pack it reads goes away
  const hold = await args.source.hold(`mount of restore point ${args.restorePointId} on ${dir}`);
  try {
    return await mountHeld(args, dir, hold);
  } catch (e) {
    await hold.release();
    throw e;
  }
}

async function mountHeld(args: MountRestorePointArgs, dir: string, hold: { release(): Promise<void> }): Promise<MountedRestorePoint> {
  const log = args.logger ?? silentLogger;
  const manifest = await args.source.manifest(args.restorePointId);
  if (manifest.mode === 'snapshot-only') {
    throw new HvsnapError(
      'unsupported',
      `restore point ${manifest.id} is snapshot-only: its disks are in an array snapshot, not in the repository; use "hvsnap export" or "hvsnap restore"`,
      { context: { restorePoint: manifest.id } },
    );
  }
  const fuse = args.fuse ?? (await loadFuse());
  const disks = await diskEntries(args, manifest);
  const vmFolder = safeFolderName(manifest.vm.name);
  const tree = buildTree(vmFolder, disks);
  const instance = await mountFuse(fuse, dir, tree, manifest, log);
  log.info({ restorePoint: manifest.id, dir }, 'restore point mounted');

  const volumes: string[] = [];
  let watcher: { closed: Promise<void>; stop(): void } = { closed: Promise.resolve(), stop: () => undefined };
  let unmounting: Promise<void> | undefined;
  const unmount = () =>
    (unmounting ??= (async () => {
      const errors: unknown[] = [];
      // `hvsnap umount` may have taken some or all of it away already: only what is still mounted
      const mounted = new Set(await mountsUnder(dir));
      for (const v of [...volumes].reverse()) {
        if (mounted.has(resolve(dir, v))) await unmountPoint(resolve(dir, v)).catch((e) => errors.push(e));
      }
      // the binding unmounts (if still mounted) and lets its FUSE thread go
      if (!errors.length) await fuseUnmount(instance).catch((e) => errors.push(e));
      if (errors.length) {
        unmounting = undefined; // a busy volume: the user may close the file and try again
        throw errors[0];
      }
      await hold.release();
      log.info({ restorePoint: manifest.id, dir }, 'restore point unmounted');
      watcher.stop();
    })());

  try {
    for (const d of disks) {
      for (const p of d.partitions) {
        const volume = `${vmFolder}/${d.name}-p${p.number}`;
        await ntfsMount(resolve(dir, `${volume}.img`), resolve(dir, volume));
        volumes.push(volume);
      }
    }
  } catch (e) {
    await unmount().catch((u) => log.error({ error: errorSummary(u) }, `could not unmount ${dir} after a failed mount; run "hvsnap umount ${dir}"`));
    throw e;
  }
  // gone from outside: nothing is served any more, so the hold goes even if our side cannot be tidied
  watcher = watchUntilGone(dir, args.pollMs ?? 1000, () => unmount().finally(() => hold.release()));
  return { closed: watcher.closed, dir, files: [...tree.entries()].filter(([, n]) => n.kind === 'file').map(([p]) => p.slice(1)), volumes, unmount };
}

/** Per disk of the restore point: its raw image from the chunks, a synthetic VHDX, and (with `files`) its NTFS partitions. */
async function diskEntries(args: MountRestorePointArgs, manifest: Awaited<ReturnType<RestorePointSource['manifest']>>): Promise<DiskEntry[]> {
  const names = diskNames(manifest.disks.map((d) => d.sourcePath));
  const disks: DiskEntry[] = [];
  for (const [i, d] of manifest.disks.entries()) {
    const index = await args.source.diskIndex(manifest.id, d.diskId);
    const raw = new ChunkedDisk(index, args.source.chunk, `${manifest.vm.name}/${names[i]}`);
    const partitions = args.files
      ? (await readPartitions(raw)).filter((p) => p.ntfs).map((p) => ({ number: p.number, image: sliceImage(raw, p.offset, p.size) }))
      : [];
    disks.push({ name: names[i], raw, vhdx: await syntheticVhdx({ disk: raw, index, virtualDiskId: d.virtualDiskId }), partitions });
  }
  return disks;
}

/** The FUSE file system serving `tree` on `dir`, mounted. */
async function mountFuse(
  fuse: FuseBinding,
  dir: string,
  tree: ReturnType<typeof buildTree>,
  manifest: Awaited<ReturnType<RestorePointSource['manifest']>>,
  log: Logger,
): Promise<FuseMount> {
  const root = process.getuid?.() === 0;
  const instance = new fuse(dir, treeOps(tree, fuse, { mtime: new Date(manifest.createdAt), logger: log }), {
    allowOther: root,
    fsname: `hvsnap:${manifest.id}`,
    subtype: 'hvsnap',
  });
  await new Promise<void>((ok, fail) =>
    instance.mount((e) => (e ? fail(new HvsnapError('internal', `could not mount ${dir}: ${e.message}`, { cause: e, context: { path: dir } })) : ok())),
  );
  return instance;
}
function fuseUnmount(instance: FuseMount): Promise<void> {
  return new Promise((ok, fail) => instance.unmount((e) => (e ? fail(e) : ok())));
}

/** `closed` settles on stop() or when `dir` is no longer a mount point (then our side is released too). */
function watchUntilGone(dir: string, pollMs: number, unmount: () => Promise<void>): { closed: Promise<void>; stop(): void } {
  let done!: () => void;
  const closed = new Promise<void>((ok) => (done = ok));
  const timer = setInterval(() => {
    mountsUnder(dir).then(
      async (m) => {
        if (m.includes(dir)) return;
        clearInterval(timer);
        await unmount().catch(() => undefined); // nothing is mounted any more: only the binding's state to release
        done();
      },
      () => undefined,
    );
  }, pollMs);
  return {
    closed,
    stop() {
      clearInterval(timer);
      done();
    },
  };
}
