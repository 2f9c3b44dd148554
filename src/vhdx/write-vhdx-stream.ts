import { HvsnapError } from '../core/errors.js';
import { encodeBatEntry } from './bat.js';
import { PayloadState } from './constants.js';
import { payloadIndex, splitByBlock } from './geometry.js';
import { planLayout, writeSkeleton } from './layout.js';
import type { WriteVhdxStreamOptions } from './types.js';
import { newReadStats, VhdxFile } from './vhdx-file.js';
import { isAllZero } from '../core/zero.js';
import { BatchedWriter } from '../core/batched-writer.js';
import { allocAlignedBuffer, openDirectWrites, type DirectWriteStats } from '../core/direct-io.js';

/**
 * Builds a new VHDX in one pass from ascending, non-overlapping chunks. Memory is bounded by the
 * writes in flight (4 × 8 MiB, see BatchedWriter) plus the BAT: each chunk is copied to its place in its block
 * (a chunk's memory may be reused once the next is asked for); a block is allocated (appended,
 * 1 MiB-aligned) when its first non-zero chunk arrives, so all-zero input allocates nothing in a dynamic
 * disk. The BAT is written last, then the file is fsynced (`syncMs`: how long that took).
 * `path` must not exist: it is created exclusively and never through a link (`already_exists` otherwise).
 */
export async function writeVhdxStream(
  path: string,
  opts: WriteVhdxStreamOptions,
): Promise<{ fileSize: number; writes: DirectWriteStats; /** the final fsync's time, ms */ syncMs: number }> {
  const layout = planLayout(opts);
  const g = layout.geometry;
  const file = await VhdxFile.create(path, newReadStats());
  try {
    let next = await writeSkeleton(file, layout);
    const fixed = layout.metadata.leaveBlocksAllocated;
    const blockAt = new Array<number>(g.payloadBlocks).fill(0);
    if (fixed) for (let b = 0; b < g.payloadBlocks; b++) blockAt[b] = layout.dataStart + b * g.blockSize;
    let cursor = 0;
    // contiguous pieces of a block become one large write, several in flight; pieces are copied into
    // page-aligned memory and written past the page cache where the file system allows (blocks are
    // 1 MiB-aligned in the file); headers, metadata and the BAT go through the page cache
    const direct = await openDirectWrites(path, file.fd);
    const writer = new BatchedWriter((buf, pos) => direct.write(buf, pos), undefined, undefined, allocAlignedBuffer);
    try {
      for await (const chunk of opts.source) {
        const { offset, data } = chunk;
        if (!Number.isSafeInteger(offset) || offset < cursor || offset + data.length > g.virtualSize) {
          throw new HvsnapError(
            'input_invalid',
            `${path}: chunk at ${offset} (${data.length} bytes) is out of order, overlapping or past the virtual size ${g.virtualSize}`,
            {
              context: { file: path, offset, field: 'source' },
            },
          );
        }
        cursor = offset + data.length;
        for (const { block: b, inBlock, piece } of splitByBlock(g, offset, data)) {
          if (!blockAt[b] && !isAllZero(piece)) {
            blockAt[b] = next;
            next += g.blockSize;
          }
          if (blockAt[b]) await writer.add(piece, blockAt[b] + inBlock);
        }
      }
      await writer.flush();
    } finally {
      // writes still in flight after a failure finish before their descriptor closes
      await writer.settle();
      await direct.close();
    }
    if (!fixed) {
      const bat = Buffer.alloc(layout.batLength);
      for (let b = 0; b < g.payloadBlocks; b++) if (blockAt[b]) encodeBatEntry(bat, payloadIndex(g, b) * 8, PayloadState.FULLY_PRESENT, blockAt[b]);
      await file.write(bat, layout.batOffset);
    }
    await file.truncate(next);
    const syncStarted = performance.now();
    await file.sync();
    return { fileSize: next, writes: direct.stats, syncMs: performance.now() - syncStarted };
  } finally {
    await file.close();
  }
}
