import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { HvsnapError } from '../../core/errors.js';

const run = promisify(execFile);

/** The mount points in this process's mount namespace (/proc/self/mountinfo, field 5, octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** The mount points at or below `dir`, deepest first: the order to unmount them in. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const root = resolve(dir);
  return (await mountPoints()).filter((m) => m === root || m.startsWith(root + '/')).sort((a, b) => b.length - a.length);
}

/** Unmounts one FUSE mount point: `umount` as root, else `fusermount3 -u` (the unprivileged way, from fuse3). */
export async function unmountPoint(dir: string): Promise<void> {
  const [cmd, args] = process.getuid?.() === 0 ? ['umount', [dir]] : ['fusermount3', ['-u', dir]];
  try {
    await run(cmd, args as string[]);
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? '').trim();
    throw new HvsnapError(/busy/i.test(stderr) ? 'locked' : 'internal', `could not unmount ${dir}: ${stderr || (e as Error).message}`, {
      cause: e,
      context: { path: dir },
      hint: /busy/i.test(stderr) ? 'a program still has a file open below it; close it and run "hvsnap umount" again' : undefined,
    });
  }
}

/**
 * `hvsnap umount DIR`: unmounts the NTFS volumes below DIR, then DIR itself. The `hvsnap mount`
 * process serving DIR notices and exits. Returns the mount points it unmounted.
 */
export async function unmountRestorePoint(dir: string): Promise<string[]> {
  const mounts = await mountsUnder(dir);
  if (!mounts.length) throw new HvsnapError('not_found', `${resolve(dir)} is not mounted`, { context: { path: resolve(dir) } });
  for (const m of mounts) await unmountPoint(m);
  return mounts;
}
