import { copyFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { withFileLock } from '../core/file-lock.js';
import { mergeRanges } from '../core/ranges.js';
import type { ByteRange } from '../core/types.js';
import { volumeLockPath } from '../core/volume-marker.js';
import { createVhdx, openVhdx } from '../vhdx/index.js';
import type { LabDisk, LabState, LabVolume } from './lab-state.js';

/**
 * Disk I/O of the lab host: where a VM's write lands (the base VHDX, or the checkpoint's AVHDX),
 * deferred merges, and the lab array's copy-on-write. A lab array snapshot hard-links the volume's
 * files, so before a file is changed in place the lab gives it an inode of its own: the array's
 * copy-on-write, paid by the writer, never by the snapshot.
 */

export function volumeOf(state: LabState, name: string): LabVolume {
  const v = state.volumes.find((x) => x.name === name);
  if (!v) throw new HvsnapError('input_invalid', `lab volume ${name} is named by a disk but missing from lab.json`, { context: { volume: name } });
  return v;
}

export function localPath(volume: LabVolume, relativePath: string): string {
  return join(volume.dir, ...relativePath.split('/'));
}

export function hostPath(volume: LabVolume, relativePath: string): string {
  return `${volume.hostRoot}\\${relativePath.split('/').join('\\')}`;
}

/** Gives a file its own inode when a snapshot shares it (the array's copy-on-write). */
export async function breakSharing(file: string): Promise<void> {
  const st = await stat(file);
  if (st.nlink <= 1) return;
  const tmp = `${file}.cow-${process.pid}`;
  await copyFile(file, tmp);
  await rename(tmp, file);
}

/** Runs `fn` holding the volume's lock, so an array snapshot never sees half of it. */
export function withVolume<T>(volume: LabVolume, fn: () => Promise<T>): Promise<T> {
  return withFileLock(volumeLockPath(volume.dir), fn, { what: `lab volume ${volume.name}` });
}

/** Writes virtual bytes into one VHDX file, breaking snapshot sharing first. Caller holds the volume lock. */
export async function writeVhdxAt(file: string, writes: Array<{ offset: number; data: Uint8Array }>): Promise<void> {
  await breakSharing(file);
  const img = await openVhdx(file, { writable: true });
  try {
    for (const w of writes) await img.write(w.offset, w.data);
    await img.flush();
  } finally {
    await img.close();
  }
}

/** Copies the given ranges of `from` into `to` (both VHDX), in bounded pieces. Caller holds the volume lock. */
export async function copyRanges(from: string, to: string, ranges: ByteRange[]): Promise<void> {
  if (ranges.length === 0) return;
  await breakSharing(to);
  const src = await openVhdx(from);
  const dst = await openVhdx(to, { writable: true });
  try {
    const piece = 4 << 20;
    for (const r of mergeRanges(ranges)) {
      for (let o = r.offset; o < r.offset + r.length; o += piece) {
        const n = Math.min(piece, r.offset + r.length - o);
        await dst.write(o, await src.read(o, n));
      }
    }
    await dst.flush();
  } finally {
    await src.close();
    await dst.close();
  }
}

/** Merges a deferred AVHDX into its base and removes it. Caller holds the lab lock. */
export async function settleDisk(state: LabState, disk: LabDisk): Promise<void> {
  const pending = disk.pendingMerge;
  if (!pending) return;
  const volume = volumeOf(state, disk.volume);
  // the AVHDX is removed only after the merge is flushed: a record whose file is gone (a kill
  // between the removal and the state's save) is a finished merge
  if (!(await stat(localPath(volume, pending.relativePath)).catch(() => undefined))) {
    delete disk.pendingMerge;
    return;
  }
  await withVolume(volume, async () => {
    await copyRanges(localPath(volume, pending.relativePath), localPath(volume, disk.relativePath), pending.ranges);
    await rm(localPath(volume, pending.relativePath), { force: true });
  });
  delete disk.pendingMerge;
}

/** Creates the AVHDX that receives a VM's writes while a checkpoint exists. */
export async function createOverlay(state: LabState, disk: LabDisk, checkpointId: string): Promise<void> {
  const volume = volumeOf(state, disk.volume);
  const base = disk.relativePath;
  const rel = `${dirname(base)}/${base
    .split('/')
    .pop()!
    .replace(/\.vhdx$/i, '')}_${checkpointId.slice(0, 8)}.avhdx`;
  await createVhdx(localPath(volume, rel), { virtualSize: disk.sizeBytes, blockSize: 1 << 20 });
  disk.overlay = { relativePath: rel, ranges: [] };
}

/**
 * The VM's current view of a disk: base, then a deferred merge, then the live AVHDX on top.
 * For tests and `hvsnap lab`; the backup never reads this way.
 */
export async function readCurrent(state: LabState, disk: LabDisk, offset: number, length: number): Promise<Buffer> {
  const volume = volumeOf(state, disk.volume);
  const base = await openVhdx(localPath(volume, disk.relativePath));
  let out: Buffer;
  try {
    out = await base.read(offset, length);
  } finally {
    await base.close();
  }
  for (const layer of [disk.pendingMerge, disk.overlay]) {
    if (!layer) continue;
    const img = await openVhdx(localPath(volume, layer.relativePath));
    try {
      for (const r of layer.ranges) {
        const s = Math.max(r.offset, offset);
        const e = Math.min(r.offset + r.length, offset + length);
        if (s < e) (await img.read(s, e - s)).copy(out, s - offset);
      }
    } finally {
      await img.close();
    }
  }
  return out;
}
