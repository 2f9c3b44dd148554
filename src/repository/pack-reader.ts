import { open } from 'node:fs/promises';
import { checkPackHeader, PACK_FOOTER_BYTES, PACK_HEADER_BYTES, parsePackTrailer, type PackEntry, type PackFormat } from './pack-format.js';

/**
 * The chunks a pack lists in its trailer, checked (header, trailer checksum, bounds):
 * `integrity_failed` naming the file for a damaged or truncated pack, ENOENT when it is gone.
 * Reads only the header and the trailer.
 */
export async function readPackEntries(file: string, format: PackFormat): Promise<{ entries: PackEntry[]; size: number }> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(PACK_HEADER_BYTES);
    await fh.read(head, 0, head.length, 0);
    checkPackHeader(head, file, format.version);
    let want = Math.min(size, 64 * 1024);
    for (;;) {
      const tail = Buffer.alloc(Math.max(want, PACK_FOOTER_BYTES));
      const { bytesRead } = await fh.read(tail, 0, Math.min(tail.length, size), Math.max(0, size - tail.length));
      const got = parsePackTrailer(tail.subarray(0, bytesRead), size, file, format);
      if ('entries' in got) return { entries: got.entries, size };
      want = got.needBytes;
    }
  } finally {
    await fh.close();
  }
}
