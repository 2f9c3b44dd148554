import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** What `npm pack` would put in the tarball (no scripts run: the listing of what is built). */
function packed(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
}

describe('the npm package', () => {
  it('names where it lives, and its LICENSE file is the licence package.json names', () => {
    expect(pkg.repository.url).toMatch(/^git\+https:\/\/github\.com\/.+\.git$/);
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.bugs.url).toMatch(/\/issues$/);
    expect(pkg.license).toBe('Apache-2.0');
    const licence = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(licence).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(licence).toContain('END OF TERMS AND CONDITIONS');
  });

  it('ships the library, the CLI, types, PowerShell scripts, the codec worker and the conformance suite, and nothing else', () => {
    const files = packed();
    const has = new Set(files);
    // what a user and a driver author need
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin as Record<string, string>)];
    for (const e of Object.values(pkg.exports as Record<string, string | { types: string; default: string }>))
      if (typeof e !== 'string') targets.push(e.types, e.default);
    for (const t of targets) expect(has, `${t} (named in package.json) is not in the tarball`).toContain(t.replace(/^\.\//, ''));
    for (const dir of ['src/hyperv/scripts', 'proxy/windows/scripts']) {
      for (const ps1 of readdirSync(join(root, dir)).filter((f) => f.endsWith('.ps1'))) expect(has).toContain(`${dir}/${ps1}`);
    }
    for (const f of [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/providers/conformance/run-conformance.js',
      'dist/providers/sdk/provider.d.ts',
      'examples/provider-skeleton/src/index.ts',
      'examples/provider-skeleton/package.json',
      'examples/systemd/hvsnap-batch.service',
      'providers/README.md',
      'providers/VENDOR-RULES.md',
      // the codec pool's worker entry, found through the package root (not compiled)
      'src/repository/codec-worker.mjs',
    ])
      expect(has).toContain(f);
    // and nothing else: no compiled tests or bench, no source maps (their sources are not shipped), no TypeScript sources outside the examples
    expect(files.filter((f) => f.startsWith('dist/test/') || f.startsWith('dist/examples/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    // the provider skeleton is a package of its own, tests included: a vendor copies it whole
    expect(files.filter((f) => /\.test\.|\/fixtures\//.test(f) && !f.startsWith('examples/provider-skeleton/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('examples/'))).toEqual([]);
    const outside = files.filter(
      (f) =>
        !/^(dist\/(src|providers|proxy)\/|src\/hyperv\/scripts\/|proxy\/windows\/scripts\/|src\/repository\/codec-worker\.mjs$|examples\/|(providers\/|proxy\/\w+\/)?README\.md$|providers\/VENDOR-RULES\.md$|LICENSE$|package\.json$)/.test(
          f,
        ),
    );
    expect(outside).toEqual([]);
  });
});
