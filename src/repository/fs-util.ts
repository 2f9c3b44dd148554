import { open, rename, rm, writeFile } from 'node:fs/promises';
import { HvsnapError } from '../core/errors.js';

/**
 * Small file-system helpers for durable writes. Everything the repository commits goes through
 * temp file → fsync → rename → fsync of the directory, so a crash leaves either the old or the
 * new state, never a torn file.
 */

/** fsync a file or a directory by path (directories need it too: it makes a rename durable). */
export async function fsyncPath(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    // Windows cannot open a directory as a file; NTFS journals directory entries by itself
    if (process.platform === 'win32' && isErrno(e, 'EISDIR', 'EPERM', 'EACCES')) return;
    throw e;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` and fsyncs it; the caller renames or fsyncs the directory. */
export async function writeFileSynced(path: string, data: Uint8Array | string, flag: 'w' | 'wx' = 'w'): Promise<void> {
  const fh = await open(path, flag);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a small file atomically: `<path>.tmp-<pid>` → fsync → rename → fsync of `dir`. */
export async function writeFileAtomic(path: string, dir: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await writeFileSynced(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dir);
}

/** Runs `fn` over `items` with at most `limit` in flight (core's p-limit based `forEachLimit`). */
export { forEachLimit } from '../core/concurrency.js';

/** True when `e` is a Node fs error with one of the given codes. */
export function isErrno(e: unknown, ...codes: string[]): boolean {
  return typeof e === 'object' && e !== null && codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

/**
 * Checks a caller-supplied relative file name (a configuration file of an export): `/` separators,
 * no empty, `.` or `..` segment, not absolute, no drive letter, backslash or NUL.
 */
export function checkRelativeName(name: string, field: string): string {
  const bad =
    name.length === 0 ||
    name.length > 1024 ||
    name.startsWith('/') ||
    /^[A-Za-z]:/.test(name) ||
    name.includes('\\') ||
    name.includes('\0') ||
    name.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) {
    throw new HvsnapError('input_invalid', `${field} ${JSON.stringify(name)} is not a safe relative path (use "/" separators; no "..", no absolute path)`, {
      context: { field, file: name },
    });
  }
  return name;
}

/** Writes a file, creating nothing else; used for lock and owner files. */
export async function writeNew(path: string, data: string): Promise<void> {
  await writeFile(path, data, { flag: 'wx' });
}
