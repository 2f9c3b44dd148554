import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { BatchedWriter } from '../core/batched-writer.js';
import { allocAlignedBuffer, openDirectWrites } from '../core/direct-io.js';
import { HvsnapError, throwIfAborted } from '../core/errors.js';
import { isAllZero, nonZeroRuns } from '../core/zero.js';
import type { Repository } from '../repository/index.js';
import { chunkId } from '../repository/chunk-id.js';
import type { DiskIndex } from '../repository/types.js';
import { READ_RUN_BYTES } from '../repository/pack-chunk-read.js';
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
  /**
   * `vhdx` (default): a dynamic VHDX, blocks allocated only for data; `vhdx-fixed`: every block
   * allocated (Hyper-V's fixed disk); `raw`: a flat image, sparse where the disk is zeros.
   */
  format?: 'vhdx' | 'vhdx-fixed' | 'raw';
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
  /**
   * How long the final fsync took, ms: the time to make the restored disk durable once every byte
   * was written (on a VM, with whatever its host does for the flush). On the bench's VM it moved
   * from hour to hour: 1.8-2.0 s of restores of the bench's 4 GiB that took 6.0-7.4 s (2 runs),
   * 0.1-0.4 s about 90 minutes later (6 of 8 runs).
   */
  syncMs: number;
}

/**
 * Bytes of chunks read and checked ahead of the writer (128 chunks of the default 256 KiB). With 16
 * chunks (4 MiB), a restore of the bench's 8 GiB disk (4 GiB of data, packs cold) spent 5.8-5.9 s of
 * its 8.0-8.2 s waiting for chunks; with 32 MiB, 0.2-0.3 s (2 runs each), and the time goes to the
 * writes, which the disk sets. Over 4 interleaved runs the restore took a median 7.4 s against 7.8 s.
 */
export const READ_AHEAD_BYTES = 32 << 20;

/**
 * The shortest zero stretch inside a chunk left as a hole rather than written. On an 8 GiB lab disk
 * after many rounds of the bench's 1% scattered 64 KiB writes, 16 KiB leaves out as much as 4 KiB
 * does (3.69 GiB of holes either way) in 2% fewer writes; and a chunk of alternating data and zero
 * pages falls into about chunkSize / 20 KiB pieces instead of a write per page.
 */
const MIN_HOLE = 16 * 1024;

/**
 * Rebuilds one disk of a restore point as a fresh dynamic VHDX (or fixed, or raw), streaming chunk
 * by chunk in order. Every chunk is checked as it is read (its checksum or GCM tag, or its id's hash
 * where its blob has neither: Repository.leaseChunks; on the codec pool's
 * threads, {@link READ_AHEAD_BYTES} ahead of the writer, in memory the repository reuses; chunks
 * stored end to end are read together, READ_RUN_BYTES at a time, see Repository.leaseChunks): a corrupt
 * repository fails the restore instead of producing a wrong disk, and the written disk is not
 * read again (see {@link verifyDiskAgainstIndex} for that). Zeros are never written: all-zero
 * chunks and zero stretches of {@link MIN_HOLE} or more inside chunks stay holes of the new file.
 * Memory: READ_AHEAD_BYTES of chunks, and the writer's batches.
 */
export async function restoreDisk(args: RestoreDiskArgs): Promise<RestoreDiskResult> {
  args.repository.warmUp();
  const manifest = await args.repository.getRestorePoint(args.restorePointId);
  const disk = manifest.disks.find((d) => d.diskId === args.diskId);
  if (!disk) {
    throw new HvsnapError('not_found', `restore point ${args.restorePointId} has no disk ${args.diskId}`, { context: { disk: args.diskId } });
  }
  const index = await args.repository.readIndex(args.restorePointId, args.diskId);
  const ahead = Math.max(1, Math.floor(READ_AHEAD_BYTES / index.chunkSize));
  let bytesRestored = 0;
  const repository = args.repository;
  // chunks are fetched (and verified) ahead of the writer, in order, so reads, checks and writes
  // overlap while memory stays bounded
  const pending = new Map<number, Promise<{ data: Buffer; release(): void }>>();
  // asked for a run of positions at a time, so that chunks a backup wrote end to end in a pack are
  // read in large reads (Repository.leaseChunks), a run once it fits in the window: positions below
  // `asked` have been asked for, never more than `ahead` of them past the one being written
  const n = index.chunks.length;
  const run = Math.min(ahead, Math.max(1, Math.floor(READ_RUN_BYTES / index.chunkSize)));
  let asked = 0;
  const fetchUpTo = (end: number) => {
    for (let to = Math.min(asked + run, n); asked < n && to <= end; to = Math.min(asked + run, n)) {
      const at: number[] = [];
      const ids: string[] = [];
      for (let j = asked; j < to; j++) {
        const id = index.chunks[j];
        if (id === null || id === undefined) continue;
        at.push(j);
        ids.push(id);
      }
      asked = to;
      repository.leaseChunks(ids).forEach((p, k) => {
        p.catch(() => undefined); // observed below, in order; a later one failing first must not go unhandled
        pending.set(at[k], p);
      });
    }
  };
  async function* source(): AsyncIterable<VhdxChunk> {
    try {
      for (let i = 0; i < index.chunks.length; i++) {
        throwIfAborted(args.signal);
        fetchUpTo(Math.min(n, i + ahead));
        const offset = i * index.chunkSize;
        const length = Math.min(index.chunkSize, index.virtualSize - offset);
        if (index.chunks[i] === null) continue;
        const lease = await pending.get(i)!;
        pending.delete(i);
        try {
          if (lease.data.length !== length) {
            throw new HvsnapError('integrity_failed', `chunk ${i} of disk ${args.diskId} is ${lease.data.length} bytes, expected ${length}`, {
              context: { disk: args.diskId, offset },
            });
          }
          bytesRestored += length;
          args.onProgress?.(offset + length, index.virtualSize);
          // zero stretches of MIN_HOLE or more are not written: the target is a new file, so they stay
          // holes (a chunk an incremental wrote 64 KiB into is mostly zeros); the writer is done with a
          // piece when it asks for the next one
          for (const [from, to] of nonZeroRuns(lease.data, { minHole: MIN_HOLE })) yield { offset: offset + from, data: lease.data.subarray(from, to) };
        } finally {
          lease.release();
        }
      }
    } finally {
      // a failed or stopped restore gives back what it fetched ahead
      for (const p of pending.values())
        void p.then(
          (l) => l.release(),
          () => undefined,
        );
      pending.clear();
    }
  }
  const format = args.format ?? 'vhdx';
  let syncMs: number;
  if (format === 'raw') syncMs = await writeRaw(args.target, index.virtualSize, source());
  else if (format === 'vhdx' || format === 'vhdx-fixed') {
    ({ syncMs } = await writeVhdxStream(args.target, {
      virtualSize: index.virtualSize,
      blockSize: args.blockSize ?? 32 << 20,
      fixed: format === 'vhdx-fixed',
      virtualDiskId: args.keepVirtualDiskId ? disk.virtualDiskId : undefined,
      source: source(),
    }));
  } else throw new HvsnapError('input_invalid', `restore format must be vhdx, vhdx-fixed or raw, got ${String(format)}`, { context: { field: 'format' } });
  return { target: args.target, virtualSize: index.virtualSize, bytesRestored, syncMs };
}

/**
 * Writes a raw image: a new file (never an existing one, never through a link), each run of
 * non-zero chunks in large direct writes (BatchedWriter, openDirectWrites), zeros left as holes,
 * then sized and fsynced. Returns the fsync's time, ms.
 */
async function writeRaw(target: string, virtualSize: number, source: AsyncIterable<VhdxChunk>): Promise<number> {
  let fh;
  try {
    fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP')
      throw new HvsnapError('already_exists', `${target} already exists (or is a link): a restore never writes over a file`, {
        cause: e,
        context: { file: target },
      });
    throw new HvsnapError('input_invalid', `cannot create ${target}: ${code ?? 'error'}`, { cause: e, context: { file: target } });
  }
  try {
    // chunks are copied (the source reuses their memory) into large page-aligned writes, several in
    // flight, that bypass the page cache where the file system allows (see openDirectWrites)
    const direct = await openDirectWrites(target, fh.fd);
    const writer = new BatchedWriter((buf, pos) => direct.write(buf, pos), undefined, undefined, allocAlignedBuffer);
    try {
      for await (const { offset, data } of source) await writer.add(data, offset);
      await writer.flush();
    } finally {
      await writer.settle();
      await direct.close();
    }
    await fh.truncate(virtualSize);
    const syncStarted = performance.now();
    await fh.sync();
    return performance.now() - syncStarted;
  } finally {
    await fh.close();
  }
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
