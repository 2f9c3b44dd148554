import { link, lstat, mkdir, mkdtemp, readdir, rm, statfs, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { isStale } from '../core/owner.js';

/** `.hvsnap-restore-p<pid>-XXXXXX`: a restore's private folder, named after the process that made it. */
const PRIVATE = /^\.hvsnap-restore-p(\d+)-/;

/**
 * Kernel file systems a restore must never write into (statfs f_type magics from Linux
 * `include/uapi/linux/magic.h`): their "files" are interfaces, and a write there can hang or
 * change the running system.
 */
const SPECIAL_FILE_SYSTEMS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x1cd1: 'devpts',
  0x62656570: 'configfs',
  0xcafe4a11: 'bpf',
  0x6165676c: 'pstore',
  0xde5e81e4: 'efivarfs',
};

/** A private folder inside the target where disks are written, and the files' final names. */
export interface RestoreTarget {
  /** where each disk is written first, inside a folder only this process created (mode 0700) */
  temp: string[];
  /** the final names, in the same order */
  final: string[];
  /**
   * Moves every written file to its final name without ever replacing anything there: `link` fails
   * on any entry (a file, or a link planted since the check), then the temporary name goes.
   */
  publish(): Promise<void>;
  /** Removes the private folder and every final name this restore made (only those: each was created by `link`). */
  discard(): Promise<void>;
}

/**
 * Checks a restore target and makes its private folder (removing those of killed restores first).
 * Refused before anything is written:
 * a folder on a kernel file system (/proc, /sys, …), and a final name that exists in any form —
 * a file, a folder, or a link (dangling or not), which is never followed.
 */
export async function prepareRestoreTarget(dir: string, final: string[]): Promise<RestoreTarget> {
  await refuseSpecialFileSystem(dir);
  for (const t of final) {
    const st = await lstat(t).catch(() => undefined);
    if (st) {
      const what = st.isSymbolicLink() ? 'is a link planted in the way (never followed)' : 'exists';
      throw new HvsnapError('already_exists', `${t} ${what}; restore never overwrites a disk (choose another --to folder)`, { context: { file: t } });
    }
  }
  await mkdir(dir, { recursive: true });
  await removeKilledRestoreFolders(dir);
  // mkdtemp creates a fresh, randomly named folder (mode 0700): nothing can be planted inside it beforehand
  const priv = await mkdtemp(join(dir, `.hvsnap-restore-p${process.pid}-`));
  const temp = final.map((t) => join(priv, basename(t)));
  const published: string[] = [];
  return {
    temp,
    final,
    async publish() {
      for (const [i, t] of final.entries()) {
        try {
          await link(temp[i], t);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
            throw new HvsnapError('already_exists', `${t} appeared during the restore; restore never overwrites a disk`, { cause: e, context: { file: t } });
          }
          throw e;
        }
        published.push(t);
        await unlink(temp[i]);
      }
      await rm(priv, { recursive: true, force: true });
    },
    async discard() {
      await rm(priv, { recursive: true, force: true });
      for (const t of published) await rm(t, { force: true });
    },
  };
}

/** Removes the private folders (`.hvsnap-restore-p<pid>-…`) in `dir` of restores that were killed: their process is gone, nothing else uses them. */
export async function removeKilledRestoreFolders(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = PRIVATE.exec(name);
    if (m && (await isStale({ pid: Number(m[1]), host: '' }))) await rm(join(dir, name), { recursive: true, force: true });
  }
}

/** Refuses a folder (or, when it does not exist yet, its nearest existing parent) on a kernel file system. */
export async function refuseSpecialFileSystem(dir: string): Promise<void> {
  let at = dir;
  for (;;) {
    const fs = await statfs(at).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? undefined : Promise.reject(e)));
    if (fs) {
      const kind = SPECIAL_FILE_SYSTEMS[Number(fs.type)];
      if (kind) {
        throw new HvsnapError('input_invalid', `${dir} is on the ${kind} file system, which holds no files; restore to a folder on a disk`, {
          context: { path: dir, field: 'to' },
        });
      }
      return;
    }
    const up = dirname(at);
    if (up === at) return;
    at = up;
  }
}
