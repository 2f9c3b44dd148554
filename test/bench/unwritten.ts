import { readFile } from 'node:fs/promises';

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
