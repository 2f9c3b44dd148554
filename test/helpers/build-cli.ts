import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/**
 * The CLI compiled to JavaScript with the project's tsc into a temporary folder, for tests that run
 * `hvsnap` as a real process (to kill it). Returns the entry point and a function that removes it.
 */
export async function buildCli(): Promise<{ main: string; remove(): Promise<void> }> {
  const out = await mkdtemp(join(tmpdir(), 'hvsnap-cli-build-'));
  const tsc = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '--ignoreConfig',
      '--outDir',
      out,
      '--rootDir',
      root,
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--skipLibCheck',
      '--types',
      'node',
      join(root, 'src/cli/main.ts'),
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  await symlink(join(root, 'node_modules'), join(out, 'node_modules'));
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  return { main: join(out, 'src/cli/main.js'), remove: () => rm(out, { recursive: true, force: true }) };
}
