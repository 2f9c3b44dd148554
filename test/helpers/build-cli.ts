import { join } from 'node:path';
import { buildForChild } from './child-build.js';

/**
 * Compiles the CLI from the sources into a temporary folder, so a test can run `hvsnap` as separate
 * processes (workers, a batch to interrupt with a real signal) from the code under test rather than
 * from a `dist` that may be stale. `remove` deletes the build.
 */
export async function buildCli(): Promise<{ main: string; run: (...argv: string[]) => string[]; remove(): Promise<void> }> {
  const build = await buildForChild(['src/cli/main.ts']);
  const main = join(build.dir, 'src/cli/main.js');
  return { main, run: (...argv) => [main, ...argv], remove: build.remove };
}
