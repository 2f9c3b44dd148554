import { execFile } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { HvsnapError } from '../../core/errors.js';

const run = promisify(execFile);

/**
 * Mounts the NTFS volume in `image` (a file served by our own FUSE mount) read-only on `target`
 * with ntfs-3g. ntfs-3g stays behind as a daemon, so it must not inherit this process's /dev/fuse
 * descriptors (the FUSE binding does not open them close-on-exec): a daemon holding one keeps our
 * FUSE connection open after this process dies, with nobody serving it, and every access to the
 * mount — `hvsnap umount` included — then hangs instead of failing. The descriptors are closed for
 * ntfs-3g by the bash that execs it (bash: POSIX sh redirects single-digit descriptors only); the
 * paths go as arguments, never into the script.
 */
export async function ntfsMount(image: string, target: string): Promise<void> {
  const closes = (await fuseDescriptors()).map((fd) => `${fd}<&-`).join(' ');
  // ro: the restore point is read-only; ntfs-3g takes a file as its device
  const args = ['-o', 'ro,noatime', image, target];
  try {
    if (closes) await run('bash', ['-c', `exec ntfs-3g "$@" ${closes}`, 'ntfs-3g', ...args]);
    else await run('ntfs-3g', args);
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? '').trim();
    throw new HvsnapError('internal', `ntfs-3g could not mount ${image}: ${stderr || (e as Error).message}`, { cause: e, context: { file: image } });
  }
}

/** This process's open descriptors of /dev/fuse (numbers only: they go into a shell redirection). */
async function fuseDescriptors(): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc/self/fd').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    if ((await readlink(`/proc/self/fd/${name}`).catch(() => '')) === '/dev/fuse') out.push(Number(name));
  }
  return out;
}
