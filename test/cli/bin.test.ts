import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; engines: { node: string } };

describe('the installed command', () => {
  it('the bin that `npm ci` builds runs as a program (shebang and exec bit), so `npx hvsnap` works', async () => {
    const bin = join(root, pkg.bin.hvsnap);
    expect(existsSync(bin), `${bin} is missing: npm ci (or npm run build) builds it`).toBe(true);
    const { stdout } = await promisify(execFile)(bin, ['--help']);
    expect(stdout).toMatch(/^Usage: hvsnap/);
    expect(stdout).toContain('demo');
    expect(pkg.engines.node).toBe('>=20');
  });
});
