import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
/** where bundles are written: inside the project, so that their bare imports (ssh2, zstd) resolve from its node_modules */
export const bundleDir = join(root, 'node_modules', '.cache', 'hvsnap-test');

/**
 * Bundles one TypeScript source (a path below the project root) with rolldown (vite's bundler) into
 * `bundleDir/<name>`, packages left external, for a child process a test starts with plain `node`
 * (and may SIGKILL). Returns the bundle's path; scripts written beside it import it as `./<name>`.
 */
export async function bundleSource(source: string, name: string): Promise<string> {
  const { build } = await import('rolldown');
  const file = join(bundleDir, name);
  await mkdir(dirname(file), { recursive: true });
  await build({ input: join(root, source), platform: 'node', external: [/^[^./]/], output: { file, format: 'esm' }, logLevel: 'silent' });
  return file;
}
