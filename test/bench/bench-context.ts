import { stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLab, labDiskFile } from '../../src/lab/index.js';
import { seededRandom } from '../../src/core/random.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { GiB, MiB } from './stats.js';

/** Hyper-V's default VHDX block size: what a real disk has, used wherever block size matters. */
export const HYPERV_BLOCK = 32 * MiB;

/** The sizes one bench run uses (`--quick` shrinks the data-heavy ones). */
export interface BenchSizes {
  /** the "2 GiB disk" of scenarios 1, 2 and 5 (half data, half zeros), bytes */
  diskBytes: number;
  /** scenario 3: the sparse disks whose checkpoint lifetimes are compared, bytes */
  lifetimeDisks: number[];
  /** scenario 3: data in each of those disks, bytes */
  lifetimeDataBytes: number;
  scaleVms: number;
  scaleVolumes: number;
  /** scenario 4: each VM's disk, bytes (data copy is excluded from the figure anyway) */
  scaleDiskBytes: number;
  /** scenario 6: the small and the large disk (half data each), bytes */
  memoryDisks: [number, number];
  /** scenario 7 (restic and borg): the disk, half data, bytes */
  peerDiskBytes: number;
}

export const FULL_SIZES: BenchSizes = {
  diskBytes: 2 * GiB,
  lifetimeDisks: [256 * MiB, 2 * GiB, 8 * GiB],
  lifetimeDataBytes: 16 * MiB,
  scaleVms: 200,
  scaleVolumes: 10,
  scaleDiskBytes: 8 * MiB,
  memoryDisks: [1 * GiB, 8 * GiB],
  peerDiskBytes: 8 * GiB,
};

/**
 * Under two minutes on a shared 2-core machine: smaller data disks and fewer VMs, the same ratios
 * between sizes (8x for memory), the real sizes where they cost nothing (sparse lifetime disks).
 * The large memory disk is the data disk itself, so it is built once.
 */
export const QUICK_SIZES: BenchSizes = {
  ...FULL_SIZES,
  diskBytes: 128 * MiB,
  lifetimeDataBytes: 4 * MiB,
  scaleVms: 20,
  memoryDisks: [32 * MiB, 256 * MiB],
  peerDiskBytes: 256 * MiB,
};

export interface BenchContext {
  /** the bench's temporary folder (removed at the end) */
  dir: string;
  /** runs per figure (at least 3) */
  runs: number;
  sizes: BenchSizes;
  /** a progress line on stderr */
  progress(message: string): void;
  /** the lab of one VM whose disk of `size` bytes is half data (32 MiB blocks), built once per size */
  diskLab(size: number): Promise<DiskLab>;
}

/**
 * Refuses to start a scenario that would fill `dir`'s file system part way (a full-size run of the
 * peers scenario failed after 3 minutes with ENOSPC from a backup): throws, naming the folder, what
 * the scenario holds at once (`what`), the bytes it needs and the bytes free, unless `bytes` are free.
 */
export async function requireFreeSpace(dir: string, bytes: number, what: string): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const gib = (n: number) => `${(n / GiB).toFixed(1)} GiB`;
  if (free < bytes)
    throw new Error(`${dir} has ${gib(free)} free; this scenario needs about ${gib(bytes)} there (${what}): free some space, or run with --quick`);
}

/** One lab VM with one disk, and where its VHDX lives. */
export interface DiskLab {
  labDir: string;
  vm: string;
  diskId: string;
  /** the base VHDX file on the lab volume */
  file: string;
  virtualSize: number;
  /** size of the VHDX file, bytes */
  fileBytes: number;
  blockSize: number;
}

/**
 * A lab of one VM whose disk holds `dataBytes` of random data in 1 MiB runs at random places, the
 * rest zeros. The data is written here, one run at a time, before the VM's first backup (createLab
 * would hold all of it in memory at once, 4 GiB for the full bench's 8 GiB disk).
 */
export async function createDiskLab(args: {
  dir: string;
  diskBytes: number;
  dataBytes: number;
  blockSize?: number;
  seed?: number;
  fill?: 'random' | 'mixed';
}): Promise<DiskLab> {
  const labDir = join(args.dir, 'lab');
  const blockSize = args.blockSize ?? HYPERV_BLOCK;
  const state = await createLab({ dir: labDir, vms: 1, volumes: 1, diskSizeBytes: args.diskBytes, dataBytes: 0, blockSize, seed: args.seed ?? 7 });
  const vm = state.vms[0];
  const diskId = vm.disks[0].id;
  const file = await labDiskFile(labDir, vm.name, diskId);
  const rand = seededRandom(args.seed ?? 7);
  const slots = args.diskBytes / MiB;
  const picked = new Set<number>();
  while (picked.size < Math.min(slots, Math.floor(args.dataBytes / MiB))) picked.add(Math.floor(rand() * slots));
  const img = await openVhdx(file, { writable: true });
  try {
    for (const slot of [...picked].sort((a, b) => a - b)) await img.write(slot * MiB, args.fill === 'mixed' ? mixedRun(slot) : randomBytes(MiB));
    await img.flush();
  } finally {
    await img.close();
  }
  return { labDir, vm: vm.name, diskId, file, virtualSize: args.diskBytes, fileBytes: (await stat(file)).size, blockSize };
}

/**
 * 1 MiB that zstd (level 3) shrinks to about half, like a disk of programs, documents and logs:
 * 448 KiB random, then text lines that differ from run to run (so nothing deduplicates).
 */
export function mixedRun(slot: number): Buffer {
  const text: string[] = [];
  let n = 0;
  for (let line = 0; n < 600 * 1024; line++) {
    const s = `${slot.toString(36)}:${line} ${randomBytes(6).toString('hex')} GET /api/v1/volumes/${(line * 7919) % 10007} HTTP/1.1 200 ${(line * 31) % 997} bytes\n`;
    text.push(s);
    n += s.length;
  }
  return Buffer.concat([randomBytes(448 * 1024), Buffer.from(text.join(''))]).subarray(0, MiB);
}

/** A full restore point left in place by one scenario for the next ones (restore, incrementals). */
export interface KeptBackup {
  repoDir: string;
  restorePointId: string;
  diskId: string;
}
