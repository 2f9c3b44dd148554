import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Mount points of this mount namespace, from /proc/self/mountinfo (octal escapes decoded). */
export async function listMountPoints(mountinfo = '/proc/self/mountinfo'): Promise<string[]> {
  const text = await fs.readFile(mountinfo, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** True when `dir` itself is a mount point. */
export async function isMountPoint(dir: string): Promise<boolean> {
  return (await listMountPoints()).includes(path.resolve(dir));
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export async function mountPointsBelow(dir: string): Promise<string[]> {
  const root = path.resolve(dir);
  return (await listMountPoints()).filter((m) => m === root || m.startsWith(`${root}/`)).sort((a, b) => b.length - a.length);
}

/** The backing file and offset (bytes) of a loop device, or undefined when it is not bound. */
export async function loopBacking(loop: string): Promise<{ file: string; offset: number } | undefined> {
  const dir = path.join('/sys/block', path.basename(loop), 'loop');
  try {
    const file = (await fs.readFile(path.join(dir, 'backing_file'), 'utf8')).trim();
    const offset = Number((await fs.readFile(path.join(dir, 'offset'), 'utf8')).trim());
    return { file, offset };
  } catch {
    return undefined;
  }
}

/** True when `p` exists and is a block device. */
export async function isBlockDevice(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isBlockDevice();
  } catch {
    return false;
  }
}
