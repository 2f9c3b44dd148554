import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HvsnapError } from './errors.js';

/**
 * The folder holding package.json above `from` (a file URL or path). Files that are not compiled
 * (PowerShell scripts, the codec worker) are found through it: dist/ holds compiled JS only, so
 * code in src/ and in dist/ reaches them the same way.
 */
export function packageRoot(from: string = import.meta.url): string {
  let dir = path.dirname(from.startsWith('file:') ? fileURLToPath(from) : from);
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new HvsnapError('internal', `no package.json above ${from}: cannot find hvsnap's uncompiled files`);
    dir = up;
  }
}
