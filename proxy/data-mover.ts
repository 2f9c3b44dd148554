import { HvsnapError, throwIfAborted } from '../src/core/errors.js';
import { chunksTouched, mergeRanges } from '../src/core/ranges.js';
import type { ByteRange } from '../src/core/types.js';
import type { Repository } from '../src/repository/index.js';
import type { DiskIndex } from '../src/repository/types.js';
import { openVhdx } from '../src/vhdx/index.js';
import type { OpenVhdxOptions, VhdxFiles } from '../src/vhdx/types.js';
import { readRangesParallel } from './data-mover-io.js';

export interface CopyDiskArgs {
  /** local path of the frozen VHDX inside the attached snapshot */
  file: string;
  repository: Repository;
  /** `incremental` needs `changedRanges` and `previous`; anything else is a full copy */
  changedRanges?: ByteRange[];
  /** the index of this disk in the previous restore point */
  previous?: DiskIndex;
  /** the virtual disk id the host reported; a different id in the file is refused */
  expectedVirtualDiskId?: string;
  /** parallel reads; default 4 */
  concurrency?: number;
  /** MB/s cap on reads (working hours); default none */
  throttleBytesPerSec?: number;
  resolveParent?: OpenVhdxOptions['resolveParent'];
  /** where `file` and its parents are read, when not on this machine (host mode: SFTP) */
  files?: VhdxFiles;
  signal?: AbortSignal;
  /** called with bytes of virtual disk processed so far */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** test hook: called after each chunk is stored (fault injection) */
  afterChunk?: (index: number) => void | Promise<void>;
}

export interface CopyDiskResult {
  index: DiskIndex;
  mode: 'full' | 'incremental';
  virtualDiskId: string;
  /** bytes read from the snapshot's file(s) */
  bytesRead: number;
  bytesWritten: number;
  chunksNew: number;
  chunksReused: number;
}

/**
 * The data mover: reads a frozen VHDX out of an attached array snapshot and stores it as a chunk
 * index. A full copy reads only allocated blocks; an incremental one reads only the chunks the RCT
 * ranges touch and takes every other chunk id from the previous index, so each restore point is a
 * complete index. Memory is bounded by concurrency × chunk size, whatever the disk size.
 */
export async function copyDisk(args: CopyDiskArgs): Promise<CopyDiskResult> {
  const chunkSize = args.repository.chunkSize;
  const image = await openVhdx(args.file, { resolveParent: args.resolveParent, files: args.files });
  try {
    const size = image.virtualSize;
    if (args.expectedVirtualDiskId && image.virtualDiskId.toLowerCase() !== args.expectedVirtualDiskId.toLowerCase()) {
      throw new HvsnapError('integrity_failed', `${args.file}: virtual disk id ${image.virtualDiskId} is not the ${args.expectedVirtualDiskId} the host reported`, {
        context: { file: args.file },
      });
    }
    const count = Math.ceil(size / chunkSize);
    const incremental = !!(args.changedRanges && args.previous);
    if (incremental && (args.previous!.chunkSize !== chunkSize || args.previous!.virtualSize !== size)) {
      throw new HvsnapError('input_invalid', `${args.file}: the previous index (${args.previous!.virtualSize} bytes in ${args.previous!.chunkSize}-byte chunks) does not fit this disk; a full backup is needed`, {
        context: { file: args.file },
      });
    }
    const chunks: Array<string | null> = incremental ? [...args.previous!.chunks] : new Array<string | null>(count).fill(null);
    const touched = chunksTouched(incremental ? args.changedRanges! : await image.allocatedRanges(), chunkSize, size);
    const ranges = mergeRanges(touched.map((i) => ({ offset: i * chunkSize, length: Math.min(chunkSize, size - i * chunkSize) })));
    const readStart = image.stats.fileBytesRead;
    let bytesWritten = 0;
    let chunksNew = 0;
    let done = 0;
    const concurrency = Math.max(1, args.concurrency ?? 4);
    throwIfAborted(args.signal);
    await readRangesParallel({
      // reused buffers: the chunk store has written a chunk's bytes before putChunk returns
      readInto: (buf, offset) => image.readInto(buf, offset),
      ranges,
      chunkSize,
      concurrency,
      // puts of different chunks overlap (the store allows it): a single put waits on file I/O most of its time
      deliverConcurrency: concurrency,
      maxBytesInFlight: chunkSize * concurrency * 2,
      throttleBytesPerSec: args.throttleBytesPerSec,
      signal: args.signal,
      checksum: 'sha256',
      onChunk: async ({ offset, data, sha256, zero }) => {
        const i = offset / chunkSize;
        // an all-zero chunk is never stored (its id is null): no need to ask the store
        const put = zero ? { id: null, written: false, bytesWritten: 0 } : await args.repository.putChunk(data, sha256);
        chunks[i] = put.id;
        if (put.written) {
          chunksNew++;
          bytesWritten += put.bytesWritten;
        }
        done += data.length;
        args.onProgress?.(done, ranges.reduce((n, r) => n + r.length, 0));
        await args.afterChunk?.(i);
      },
    });
    return {
      index: { chunkSize, virtualSize: size, chunks },
      mode: incremental ? 'incremental' : 'full',
      virtualDiskId: image.virtualDiskId,
      bytesRead: image.stats.fileBytesRead - readStart,
      bytesWritten,
      chunksNew,
      chunksReused: chunks.filter((c) => c !== null).length - chunksNew,
    };
  } finally {
    await image.close();
  }
}
