import { join } from 'node:path';
import { buildForChild } from './child-build.js';

/**
 * The CLI compiled to JavaScript with the project's tsc into a temporary folder, for tests that run
 * `hvsnap` as a real process (to kill it). Returns the entry point and a function that removes it.
 */
export async function buildCli(): Promise<{ main: string; remove(): Promise<void> }> {
  const build = await buildForChild(['src/cli/main.ts']);
  return { main: join(build.dir, 'src/cli/main.js'), remove: build.remove };
}
