import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
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
  // chunks are fetched (and verified: readChunk checks each against its id) ahead of the writer, a
  // few at a time and in order, so reads, checks and writes overlap while memory stays bounded
  const AHEAD = 8;
  const pending = new Map<number, Promise<Buffer>>();
  const fetch = (i: number) => {
    const id = index.chunks[i];
    if (id !== null && id !== undefined && !pending.has(i)) {
      const p = repository.readChunk(id);
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
        throw new HvsnapError('integrity_failed', `chunk ${i} of disk ${args.diskId} is ${data.length} bytes, expected ${length}`, {
          context: { disk: args.diskId, offset },
        });
      }
      whole.update(data);
      bytesRestored += data.length;
      args.onProgress?.(offset + length, index.virtualSize);
      yield { offset, data };
    }
  }
  const format = args.format ?? 'vhdx';
  if (format === 'raw') await writeRaw(args.target, index.virtualSize, source());
  else if (format === 'vhdx' || format === 'vhdx-fixed') {
    await writeVhdxStream(args.target, {
      virtualSize: index.virtualSize,
      blockSize: args.blockSize ?? 32 << 20,
      fixed: format === 'vhdx-fixed',
      virtualDiskId: args.keepVirtualDiskId ? disk.virtualDiskId : undefined,
      source: source(),
    });
  } else throw new HvsnapError('input_invalid', `restore format must be vhdx, vhdx-fixed or raw, got ${String(format)}`, { context: { field: 'format' } });
  return { target: args.target, virtualSize: index.virtualSize, bytesRestored, sha256: whole.digest('hex') };
}

/** Bytes gathered into one write of a raw image: large sequential writes. */
const RAW_WRITE = 8 << 20;

/**
 * Writes a raw image: a new file (never an existing one, never through a link), each run of
 * non-zero chunks in writes of up to {@link RAW_WRITE} bytes, zeros left as holes, then sized and
 * fsynced.
 */
async function writeRaw(target: string, virtualSize: number, source: AsyncIterable<VhdxChunk>): Promise<void> {
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
    let batch: Buffer[] = [];
    let at = 0;
    let bytes = 0;
    const write = async () => {
      if (bytes > 0) await fh.writev(batch, at);
      batch = [];
      bytes = 0;
    };
    for await (const { offset, data } of source) {
      if (bytes > 0 && (offset !== at + bytes || bytes >= RAW_WRITE)) await write();
      if (bytes === 0) at = offset;
      batch.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength)); // each chunk is a fresh buffer: no copy
      bytes += data.length;
    }
    await write();
    await fh.truncate(virtualSize);
    await fh.sync();
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
