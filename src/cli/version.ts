import { readFileSync } from 'node:fs';

/**
 * The version in package.json, read at run time: two folders up from src/cli, three from
 * dist/src/cli. Cheap enough for `hvsnap --version` (no JSON import attribute, no dependency).
 */
export function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hvsnap' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}
