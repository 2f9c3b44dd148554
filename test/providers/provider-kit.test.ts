import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/requirements.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The vendor's kit works outside this repository: `npm pack` of hvsnap, the skeleton copied to a
 * folder with no path back here, `npm install <tarball> && npm test` (the hvsnap conformance suite
 * from the installed package against the skeleton driver). Uses the built dist (npm ci builds it;
 * run `npm run build` first locally) and the npm registry for vitest and typescript. Slow: ~2 min cold.
 */
describeWith('provider kit: the skeleton as its own package', { tools: ['npm'] }, () => {
  const work = mkdtempSync(join(tmpdir(), 'hvsnap-kit-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('installs the packed hvsnap and passes its own npm test, reaching no file of this repository', async () => {
    const built = join(repo, 'dist/providers/sdk/index.js');
    expect(existsSync(built), `${built} is missing: run npm run build (npm ci does) before this test`).toBe(true);
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: repo, maxBuffer: 16 << 20 });
    const tarball = join(work, stdout.trim().split('\n').pop()!);
    const pkg = join(work, 'skeleton');
    cpSync(join(repo, 'examples/provider-skeleton'), pkg, { recursive: true, filter: (src) => !/node_modules|dist/.test(src.slice(repo.length)) });
    await run('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: pkg, maxBuffer: 16 << 20, timeout: 600_000 });
    // the installed hvsnap is a copy from the tarball, not a link into this repository
    const installed = join(pkg, 'node_modules/hvsnap');
    expect(statSync(installed).isSymbolicLink()).toBe(false);
    expect(readdirSync(installed)).toContain('dist');
    const test = await run('npm', ['test'], { cwd: pkg, maxBuffer: 16 << 20, timeout: 300_000 });
    expect(test.stdout).toMatch(/Tests\s+.*\d+ passed/);
    expect(test.stdout).not.toMatch(/failed/);
    expect(readFileSync(join(pkg, 'package.json'), 'utf8')).not.toContain(repo);
  }, 900_000);
});
