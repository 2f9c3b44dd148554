import { access } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ParentLocator } from './parent-locator.js';

/** The locator keys that hold a path, in the spec's search order (MS-VHDX §2.6.2.6.3). */
export const PARENT_PATH_KEYS = ['relative_path', 'volume_path', 'absolute_win32_path'] as const;

/** Maps a host path to a local one; undefined when it cannot. */
export type ParentResolver = (hostPath: string, locator: Record<string, string>) => string | undefined;

/** Strips the Win32 `\\?\` prefix and turns backslashes into slashes. */
function winToPosix(p: string): string {
  return p.replace(/^\\\\\?\\/, '').replace(/\\/g, '/');
}

/**
 * A resolver from prefix pairs: `C:\ClusterStorage\Volume1` → `/mnt/snap1` maps
 * `C:\ClusterStorage\Volume1\vm\disk.vhdx` to `/mnt/snap1/vm/disk.vhdx`. Prefixes match
 * case-insensitively (Windows paths), with `\` or `/` separators and with or without `\\?\`.
 */
export function prefixResolver(map: Array<{ from: string; to: string }>): ParentResolver {
  const rules = map.map(({ from, to }) => ({ from: winToPosix(from).replace(/\/+$/, '').toLowerCase(), to }));
  return (hostPath) => {
    const p = winToPosix(hostPath);
    for (const r of rules) {
      const lower = p.toLowerCase();
      if (lower === r.from || lower.startsWith(r.from + '/')) return join(r.to, p.slice(r.from.length));
    }
    return undefined;
  };
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The local paths to try for a child's parent, in order: each locator path (relative_path first) through
 * the caller's resolver; relative_path against the child's folder; the basename of each locator path in
 * the child's folder (where libvhdi looks). Returns the first that exists, and every candidate tried.
 */
export async function findParent(
  childPath: string,
  locator: ParentLocator,
  resolver?: ParentResolver,
  fileExists: (path: string) => Promise<boolean> = exists,
): Promise<{ path?: string; tried: string[] }> {
  const dir = dirname(resolve(childPath));
  const candidates: string[] = [];
  for (const key of PARENT_PATH_KEYS) {
    const v = locator.entries[key];
    if (!v) continue;
    const mapped = resolver?.(v, locator.entries);
    if (mapped) candidates.push(mapped);
  }
  const rel = locator.entries.relative_path;
  if (rel) {
    const p = winToPosix(rel);
    if (!isAbsolute(p) && !/^[a-z]:/i.test(p)) candidates.push(resolve(dir, p));
  }
  for (const key of PARENT_PATH_KEYS) {
    const v = locator.entries[key];
    if (v) candidates.push(join(dir, winToPosix(v).split('/').pop()!));
  }
  const tried = [...new Set(candidates)];
  for (const c of tried) if (await fileExists(c)) return { path: c, tried };
  return { tried };
}
