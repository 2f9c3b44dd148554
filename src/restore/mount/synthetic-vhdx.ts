import { encodeBatEntry } from '../../vhdx/bat.js';
import { PayloadState } from '../../vhdx/constants.js';
import { payloadIndex } from '../../vhdx/geometry.js';
import { DEFAULT_BLOCK_SIZE, planLayout, writeSkeleton } from '../../vhdx/layout.js';
import type { DiskIndex } from '../../repository/types.js';
import type { ReadableImage } from './chunked-disk.js';

/**
 * A dynamic VHDX that exists only as reads: its header section, metadata region and BAT are
 * generated (by the same layout code that writes new VHDX files) and held in memory; its payload
 * blocks are read from the disk's chunks when asked for. A block is allocated in the file only
 * when one of its chunks holds data, in the order of the virtual disk, so the file is as small as
 * the dynamic VHDX a restore would write — and it reads the same through any VHDX reader.
 *
 * Building it costs one pass over the chunk index (no chunk is read), whatever the disk's size.
 */
export async function syntheticVhdx(args: { disk: ReadableImage; index: DiskIndex; virtualDiskId?: string }): Promise<ReadableImage> {
  const layout = planLayout({ virtualSize: args.index.virtualSize, blockSize: DEFAULT_BLOCK_SIZE, logicalSectorSize: 512, virtualDiskId: args.virtualDiskId });
  const g = layout.geometry;
  const prefix = Buffer.alloc(layout.dataStart);
  await writeSkeleton(
    {
      write: async (data: Uint8Array, pos: number) => void prefix.set(data, pos),
      truncate: async () => undefined,
    },
    layout,
  );
  const { chunkSize, chunks } = args.index;
  /** payload block of each allocated slot in the file, in file order */
  const slots: number[] = [];
  for (let b = 0; b < g.payloadBlocks; b++) {
    const first = Math.floor((b * g.blockSize) / chunkSize);
    const last = Math.min(chunks.length, Math.ceil(((b + 1) * g.blockSize) / chunkSize));
    let data = false;
    for (let i = first; i < last && !data; i++) data = chunks[i] !== null;
    if (!data) continue;
    encodeBatEntry(prefix, layout.batOffset + payloadIndex(g, b) * 8, PayloadState.FULLY_PRESENT, layout.dataStart + slots.length * g.blockSize);
    slots.push(b);
  }
  const size = layout.dataStart + slots.length * g.blockSize;
  return {
    size,
    async read(offset, length) {
      const end = Math.min(size, offset + length);
      if (offset >= end) return Buffer.alloc(0);
      const out = Buffer.alloc(end - offset);
      let at = offset;
      if (at < layout.dataStart) {
        const to = Math.min(end, layout.dataStart);
        prefix.copy(out, 0, at, to);
        at = to;
      }
      while (at < end) {
        const slot = Math.floor((at - layout.dataStart) / g.blockSize);
        const inBlock = (at - layout.dataStart) % g.blockSize;
        const n = Math.min(end - at, g.blockSize - inBlock);
        // past the virtual size inside the last block: zeros, as the buffer already holds
        const data = await args.disk.read(slots[slot] * g.blockSize + inBlock, n);
        data.copy(out, at - offset);
        at += n;
      }
      return out;
    },
  };
}
