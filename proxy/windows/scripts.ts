import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HvsnapError } from '../../src/core/errors.js';

/** The PowerShell scripts of the Windows proxy, by file name. */
export type WindowsProxyScript =
  'connect-iscsi.ps1' | 'disconnect-iscsi.ps1' | 'find-disks.ps1' | 'online-disk.ps1' | 'mount-partition.ps1' | 'offline-disks.ps1';

const cache = new Map<string, string>();

/**
 * The folder holding proxy/windows/scripts. Scripts are not compiled (dist/ holds JS only), so
 * they are found from this module up to the package root (the folder with package.json).
 */
export function windowsScriptsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'proxy', 'windows', 'scripts');
    const up = path.dirname(dir);
    if (up === dir) {
      throw new HvsnapError('internal', `cannot find the hvsnap package root above ${fileURLToPath(import.meta.url)}`, { context: { step: 'load-script' } });
    }
    dir = up;
  }
}

/** The text of one script, read once. */
export function loadWindowsScript(name: WindowsProxyScript): string {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const file = path.join(windowsScriptsDir(), name);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new HvsnapError('internal', `proxy script ${file} is missing from the package`, { cause: e, context: { file } });
  }
  cache.set(name, text);
  return text;
}
