import { createHash } from 'node:crypto';
import { HvsnapError } from '../core/errors.js';
import { mergeRanges } from '../core/ranges.js';
import type { ByteRange } from '../core/types.js';
import { breakSharing, localPath, readCurrent, settleDisk, volumeOf, withVolume, writeVhdxAt } from './disk-io.js';
import { findVm } from './lab-hypervisor.js';
import { readState, updateState } from './lab-state.js';
import { randomBlock, seededRandom } from '../core/random.js';
import { recordChange } from './rct.js';

export interface LabWriteArgs {
  dir: string;
  /** VM name or id */
  vm: string;
  /** number of writes; default 16 */
  count?: number;
  /** bytes per write, a multiple of 4096; default 64 KiB */
  sizeBytes?: number;
  seed?: number;
}

/**
 * Random writes into a VM's disks, as its guest would make them: into the base VHDX, or into the
 * checkpoint's AVHDX while one exists. Tracked by RCT. Safe while a backup runs in another process.
 */
export async function labWrite(args: LabWriteArgs): Promise<{ vm: string; writes: Array<ByteRange & { diskId: string }> }> {
  const size = args.sizeBytes ?? 64 << 10;
  if (size <= 0 || size % 4096 !== 0) {
    throw new HvsnapError('input_invalid', `write size ${size} must be a positive multiple of 4096`, { context: { field: 'sizeBytes' } });
  }
  const rand = seededRandom(args.seed ?? Date.now());
  await prepareFiles(args.dir, args.vm);
  return updateState(args.dir, async (s) => {
    const vm = findVm(s, args.vm);
    const done: Array<ByteRange & { diskId: string }> = [];
    const perDisk = new Map<string, Array<{ offset: number; data: Uint8Array }>>();
    for (let i = 0; i < (args.count ?? 16); i++) {
      const disk = vm.disks[Math.floor(rand() * vm.disks.length)];
      if (size > disk.sizeBytes)
        throw new HvsnapError('input_invalid', `write size ${size} exceeds disk ${disk.id}`, { context: { vm: vm.name, disk: disk.id } });
      const offset = Math.floor(rand() * ((disk.sizeBytes - size) / 4096 + 1)) * 4096;
      const list = perDisk.get(disk.id) ?? [];
      list.push({ offset, data: randomBlock(rand, size) });
      perDisk.set(disk.id, list);
      done.push({ diskId: disk.id, offset, length: size });
    }
    for (const disk of vm.disks) {
      const writes = perDisk.get(disk.id);
      if (!writes) continue;
      if (!disk.overlay) await settleDisk(s, disk);
      const volume = volumeOf(s, disk.volume);
      const target = disk.overlay?.relativePath ?? disk.relativePath;
      await withVolume(volume, () => writeVhdxAt(localPath(volume, target), writes));
      for (const w of writes) {
        const range = { offset: w.offset, length: w.data.length };
        recordChange(disk.rct, range);
        if (disk.overlay) disk.overlay.ranges = mergeRanges([...disk.overlay.ranges, range]);
      }
    }
    return { vm: vm.name, writes: done };
  });
}

/**
 * Pays the lab array's copy-on-write before the write takes the lab lock: a file a snapshot still
 * shares gets its own inode now, so the lab lock (which checkpoints and conversions wait for) is
 * held for the write itself, not for a whole-file copy.
 */
async function prepareFiles(dir: string, vmName: string): Promise<void> {
  const files = await readState(dir, (s) => {
    const vm = findVm(s, vmName);
    return vm.disks.flatMap((d) => {
      const volume = volumeOf(s, d.volume);
      // while a checkpoint exists only its AVHDX is written; otherwise the base (after a deferred merge)
      const written = d.overlay ? [d.overlay.relativePath] : [d.relativePath, d.pendingMerge?.relativePath];
      return written.filter((p): p is string => !!p).map((p) => ({ volume, file: localPath(volume, p) }));
    });
  });
  for (const f of files) await withVolume(f.volume, () => breakSharing(f.file).catch(() => undefined));
}

/** Merges every deferred AVHDX (what Hyper-V does in the background after a checkpoint goes). */
export async function labSettle(dir: string): Promise<void> {
  await updateState(dir, async (s) => {
    for (const vm of s.vms) for (const d of vm.disks) if (!d.overlay) await settleDisk(s, d);
  });
}

/** SHA-256 of a disk's current virtual content as the VM sees it, read in 4 MiB pieces. */
export async function labDiskDigest(dir: string, vm: string, diskId: string): Promise<string> {
  return readState(dir, async (s) => {
    const v = findVm(s, vm);
    const disk = v.disks.find((d) => d.id === diskId);
    if (!disk) throw new HvsnapError('not_found', `VM ${v.name} has no disk ${diskId}`, { context: { vm: v.name, disk: diskId } });
    const h = createHash('sha256');
    for (let o = 0; o < disk.sizeBytes; o += 4 << 20) h.update(await readCurrent(s, disk, o, Math.min(4 << 20, disk.sizeBytes - o)));
    return h.digest('hex');
  });
}

/** Local file of a disk's base VHDX (for tests and oracles). */
export async function labDiskFile(dir: string, vm: string, diskId: string): Promise<string> {
  return readState(dir, (s) => {
    const v = findVm(s, vm);
    const disk = v.disks.find((d) => d.id === diskId);
    if (!disk) throw new HvsnapError('not_found', `VM ${v.name} has no disk ${diskId}`, { context: { vm: v.name, disk: diskId } });
    return localPath(volumeOf(s, disk.volume), disk.relativePath);
  });
}
