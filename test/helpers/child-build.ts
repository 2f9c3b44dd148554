import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const UNCOMPILED = ['src/repository/codec-worker.mjs'];

/**
 * Compiles `entries` (paths below the repository root) with the project's tsc into a temporary
 * folder a child process can run with plain `node` (the layout of the sources is kept, so
 * `./src/...js` imports work from `scripts` written there). For tests that kill real processes.
 */
export async function buildForChild(entries: string[], scripts: Record<string, string> = {}): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hvsnap-child-build-'));
  const tsc = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '--ignoreConfig',
      '--outDir',
      dir,
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
      ...entries.map((e) => join(root, e)),
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  // files the code finds through the package root at run time, not compiled (the codec worker)
  for (const f of UNCOMPILED) {
    await mkdir(dirname(join(dir, f)), { recursive: true });
    await symlink(join(root, f), join(dir, f));
  }
  for (const [name, text] of Object.entries(scripts)) await writeFile(join(dir, name), text);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
