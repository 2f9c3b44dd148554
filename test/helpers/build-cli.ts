import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/**
 * Compiles the CLI from the sources into a temporary folder, so a test can run `hvsnap` as separate
 * processes (workers, a batch to interrupt with a real signal) from the code under test rather than
 * from a `dist` that may be stale. `remove` deletes the build.
 */
export async function buildCli(): Promise<{ main: string; run: (...argv: string[]) => string[]; remove(): Promise<void> }> {
  const build = await mkdtemp(join(tmpdir(), 'hvsnap-cli-build-'));
  // asynchronous: a redis-server or sshd started alongside keeps its event loop
  await promisify(execFile)(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '--ignoreConfig', '--outDir', build, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', join(root, 'src/cli/main.ts')],
    { cwd: root, encoding: 'utf8', maxBuffer: 16 << 20 },
  ).catch((e: { stdout?: string; stderr?: string }) => {
    throw new Error(`tsc failed: ${e.stdout ?? ''}${e.stderr ?? ''}`);
  });
  await symlink(join(root, 'node_modules'), join(build, 'node_modules'));
  await writeFile(join(build, 'package.json'), '{"type":"module"}');
  const main = join(build, 'src', 'cli', 'main.js');
  return { main, run: (...argv) => [main, ...argv], remove: () => rm(build, { recursive: true, force: true }) };
}
