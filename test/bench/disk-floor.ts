import { readFile, rm } from 'node:fs/promises';
import { runPeer } from './run-peer.js';

const BLOCK = 16 * 1024 * 1024;

/**
 * The disk's own floor for a durable restore, measured with `dd`: the time to read `files` (the
 * restore point's packs) while writing `bytes` to a new file, both past the page cache, the write
 * fsynced at the end. No restore that reads those files and makes that many bytes durable can be
 * faster on this disk, whatever its code.
 *
 * The reads run `readers` at once (the files dealt round-robin), as hvsnap's restore keeps several
 * pack reads in flight; one `dd` writes 16 MiB blocks of zeros (`/dev/zero`: the floor costs no CPU
 * to make its data). Both start together and the floor ends when the last exits.
 * @returns milliseconds
 */
export async function durableRestoreFloor(files: string[], outFile: string, bytes: number, readers = 4): Promise<number> {
  const groups = Array.from({ length: readers }, (_, i) => files.filter((_, j) => j % readers === i)).filter((g) => g.length > 0);
  const started = performance.now();
  try {
    await Promise.all([
      // the file names are arguments of the script, never part of it
      ...groups.map((g) => runPeer('sh', ['-c', 'for f do dd if="$f" of=/dev/null bs=16M iflag=direct status=none || exit 1; done', 'sh', ...g])),
      runPeer('dd', ['if=/dev/zero', `of=${outFile}`, `bs=${BLOCK}`, `count=${Math.ceil(bytes / BLOCK)}`, 'oflag=direct', 'conv=fsync', 'status=none']),
    ]);
    return performance.now() - started;
  } finally {
    await rm(outFile, { force: true });
  }
}

/**
 * Bytes written to files but not yet on the disk, system-wide: `Dirty` plus `Writeback` of
 * /proc/meminfo. Undefined where there is no /proc/meminfo (not Linux). Read right after a tool
 * exits, less the same reading just before it started, it is what the tool left in the page cache
 * for the kernel to write later (other processes on the machine add a little noise).
 */
export async function unwrittenBytes(): Promise<number | undefined> {
  const text = await readFile('/proc/meminfo', 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const kib = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`/proc/meminfo has no ${name} line`);
    return Number(m[1]);
  };
  return (kib('Dirty') + kib('Writeback')) * 1024;
}
