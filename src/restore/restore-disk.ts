import { createHash } from 'node:crypto';
import { HvsnapError, throwIfAborted } from '../core/errors.js';
import { isAllZero, type Repository } from '../repository/index.js';
import { chunkId } from '../repository/chunk-id.js';
import type { DiskIndex } from '../repository/types.js';
import { openVhdx, writeVhdxStream } from '../vhdx/index.js';
import type { VhdxChunk } from '../vhdx/types.js';

export interface RestoreDiskArgs {
  repository: Repository;
  restorePointId: string;
  diskId: string;
  /** the VHDX to write; must not exist */
  target: string;
  /** VHDX block size of the new disk; default 32 MiB (Hyper-V's) */
  blockSize?: number;
  /** keep the disk's virtual disk id (an in-place restore); default a new one */
  keepVirtualDiskId?: boolean;
  signal?: AbortSignal;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface RestoreDiskResult {
  target: string;
  virtualSize: number;
  /** bytes of chunk data read from the repository */
  bytesRestored: number;
  /** SHA-256 of the whole virtual disk content written */
  sha256: string;
}

/**
 * Rebuilds one disk of a restore point as a fresh dynamic VHDX, streaming chunk by chunk (memory
 * bounded by one chunk). Every chunk is verified against its id as it is read: a corrupt
 * repository fails the restore instead of producing a wrong disk.
 */
export async function restoreDisk(args: RestoreDiskArgs): Promise<RestoreDiskResult> {
  const manifest = await args.repository.getRestorePoint(args.restorePointId);
  const disk = manifest.disks.find((d) => d.diskId === args.diskId);
  if (!disk) {
    throw new HvsnapError('not_found', `restore point ${args.restorePointId} has no disk ${args.diskId}`, { context: { disk: args.diskId } });
  }
  const index = await args.repository.readIndex(args.restorePointId, args.diskId);
  const whole = createHash('sha256');
  let bytesRestored = 0;
  const zero = Buffer.alloc(index.chunkSize);
  const repository = args.repository;
  // chunks are fetched (and verified) ahead of the writer, a few at a time and in order: memory stays bounded
  const AHEAD = 4;
  const pending = new Map<number, Promise<Buffer>>();
  const fetch = (i: number) => {
    const id = index.chunks[i];
    if (id !== null && id !== undefined && !pending.has(i)) {
      const p = repository.getChunk(id, { verify: true });
      p.catch(() => undefined); // observed below, in order; a later one failing first must not go unhandled
      pending.set(i, p);
    }
  };
  async function* source(): AsyncIterable<VhdxChunk> {
    for (let i = 0; i < index.chunks.length; i++) {
      throwIfAborted(args.signal);
      for (let j = i; j < Math.min(index.chunks.length, i + AHEAD); j++) fetch(j);
      const offset = i * index.chunkSize;
      const length = Math.min(index.chunkSize, index.virtualSize - offset);
      if (index.chunks[i] === null) {
        whole.update(zero.subarray(0, length));
        continue;
      }
      const data = await pending.get(i)!;
      pending.delete(i);
      if (data.length !== length) {
        throw new HvsnapError('integrity_failed', `chunk ${i} of disk ${args.diskId} is ${data.length} bytes, expected ${length}`, { context: { disk: args.diskId, offset } });
      }
      whole.update(data);
      bytesRestored += data.length;
      args.onProgress?.(offset + length, index.virtualSize);
      yield { offset, data };
    }
  }
  await writeVhdxStream(args.target, {
    virtualSize: index.virtualSize,
    blockSize: args.blockSize ?? 32 << 20,
    virtualDiskId: args.keepVirtualDiskId ? disk.virtualDiskId : undefined,
    source: source(),
  });
  return { target: args.target, virtualSize: index.virtualSize, bytesRestored, sha256: whole.digest('hex') };
}

/**
 * Reads a restored (or any) VHDX back and checks it chunk by chunk against a disk index.
 * Returns the chunks that differ (empty: identical).
 */
export async function verifyDiskAgainstIndex(file: string, index: DiskIndex, signal?: AbortSignal): Promise<{ sha256: string; mismatches: number[] }> {
  const img = await openVhdx(file);
  const whole = createHash('sha256');
  const mismatches: number[] = [];
  try {
    if (img.virtualSize !== index.virtualSize) {
      throw new HvsnapError('integrity_failed', `${file} is ${img.virtualSize} bytes, the index ${index.virtualSize}`, { context: { file } });
    }
    for (let i = 0; i < index.chunks.length; i++) {
      throwIfAborted(signal);
      const offset = i * index.chunkSize;
      const data = await img.read(offset, Math.min(index.chunkSize, index.virtualSize - offset));
      whole.update(data);
      const expected = index.chunks[i];
      const ok = expected === null ? isAllZero(data) : chunkId(data) === expected;
      if (!ok) mismatches.push(i);
    }
  } finally {
    await img.close();
  }
  return { sha256: whole.digest('hex'), mismatches };
}
