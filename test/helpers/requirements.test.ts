import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { skipSummary } from './global-setup.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

describe('the skip summary', () => {
  it('lists each skipped group once and ends with one apt-get line', () => {
    const text = skipSummary([
      { title: 'a', reason: 'qemu-img not installed (apt-get install qemu-utils)', packages: ['qemu-utils'] },
      { title: 'a', reason: 'qemu-img not installed (apt-get install qemu-utils)', packages: ['qemu-utils'] },
      { title: 'b', reason: 'x.yaml not found in ../shared (or HVSNAP_SHARED)', packages: [] },
      { title: 'c', reason: '7zz not installed (apt-get install 7zip)', packages: ['7zip'] },
    ]);
    expect(text.split('\n')).toEqual([
      'hvsnap tests: 3 group(s) skipped for a missing need (HVSNAP_TEST_STRICT=1 makes these failures):',
      '  - a: qemu-img not installed (apt-get install qemu-utils)',
      '  - b: x.yaml not found in ../shared (or HVSNAP_SHARED)',
      '  - c: 7zz not installed (apt-get install 7zip)',
      'to run them: apt-get install 7zip qemu-utils',
    ]);
    expect(skipSummary([])).toBe('');
  });
});

/**
 * A fresh machine, simulated: PATH holds only node, and the shared folder is missing. A test file
 * that needs bunzip2 and a shared fixture skips with its reason and the run passes with the
 * summary; under HVSNAP_TEST_STRICT=1 the same run fails.
 */
describe('a test whose needs are missing, run by vitest on a machine with only node', () => {
  const bin = mkdtempSync(join(tmpdir(), 'hvsnap-path-'));
  symlinkSync(process.execPath, join(bin, 'node'));
  afterAll(() => rmSync(bin, { recursive: true, force: true }));
  const run = (extra: Record<string, string>) => {
    const env: Record<string, string | undefined> = { ...process.env, PATH: bin, HVSNAP_SHARED: join(bin, 'no-shared'), ...extra };
    delete env.HVSNAP_SKIP_LOG; // the child's global setup makes its own
    delete env.VITEST; // not a nested worker: a run of its own
    if (!('HVSNAP_TEST_STRICT' in extra)) delete env.HVSNAP_TEST_STRICT;
    return spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/vhdx/windows-fixture.test.ts'], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 100_000,
    });
  };

  it('skips with the reason, passes, and prints the summary with the apt-get line', () => {
    const r = run({});
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('hvsnap tests: 1 group(s) skipped');
    expect(r.stdout).toContain(
      'the Hyper-V-made fixture reads as its README states: bunzip2 not installed (apt-get install bzip2); fixtures/vhdx/iotest-dynamic-1G.vhdx.bz2 not found',
    );
    expect(r.stdout).toContain('to run them: apt-get install bzip2');
  });

  it('fails under HVSNAP_TEST_STRICT=1', () => {
    const r = run({ HVSNAP_TEST_STRICT: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('HVSNAP_TEST_STRICT=1 forbids skipping');
  });
});
