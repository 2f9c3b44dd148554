import { mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { vhdxCommand } from '../../src/cli/commands/vhdx.js';
import { createVhdx, openVhdx } from '../../src/vhdx/index.js';
import { buildDifferencingChain, buildVhdxWithPendingLog } from '../helpers/vhdx-fixtures.js';
import { MiB, sha256, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function io() {
  const out: Buffer[] = [];
  const err: string[] = [];
  const cli: CliIo = {
    stdout: { write: (c) => out.push(Buffer.from(c)) },
    stderr: { write: (c) => err.push(String(c)) },
    env: {},
    logger: () => silentLogger,
  };
  return { cli, out: () => Buffer.concat(out), err: () => err.join('') };
}

async function cli(...argv: string[]) {
  const o = io();
  const code = await runCli(argv, o.cli, [vhdxCommand]);
  return { code, stdout: o.out(), stderr: o.err() };
}

describe('hvsnap vhdx', () => {
  it('info shows type, sizes, BAT states and the log state; --json gives the data', async () => {
    const f = await buildVhdxWithPendingLog(tmp.path('dirty.vhdx'));
    const r = await cli('vhdx', 'info', f.path);
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    expect(text).toMatch(/type\s+dynamic/);
    expect(text).toMatch(/log\s+replayed in memory/);
    expect(text).toMatch(/FULLY_PRESENT 5/);
    const j = await cli('--json', 'vhdx', 'info', f.path);
    const data = JSON.parse(j.stdout.toString());
    expect(data).toMatchObject({ diskType: 'dynamic', virtualSize: 16 * MiB, blockSize: MiB, logicalSectorSize: 512, log: { state: 'replayed', entries: 2 } });
    expect(data.batStates).toMatchObject({ FULLY_PRESENT: 5, ZERO: 1 });
  });

  it('read writes the virtual bytes (log replayed), whole or a range', async () => {
    const f = await buildVhdxWithPendingLog(tmp.path('dirty-read.vhdx'), { seed: 4 });
    const all = await cli('vhdx', 'read', f.path);
    expect(all.code).toBe(0);
    expect(sha256(all.stdout)).toBe(sha256(f.expected));
    const part = await cli('vhdx', 'read', f.path, '--offset', '5M', '--length', '70000');
    expect(part.stdout.equals(f.expected.subarray(5 * MiB, 5 * MiB + 70000))).toBe(true);
    const bad = await cli('vhdx', 'read', f.path, '--offset', '16M', '--length', '1');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/past the virtual size/);
  });

  it('read resolves a chain through --parent-map', async () => {
    const dir = tmp.path('chain');
    mkdirSync(dir);
    const chain = await buildDifferencingChain(dir, { depth: 1 });
    const r = await cli('vhdx', 'read', chain.top, '--parent-map', 'C:\\ClusterStorage\\Volume1=/nowhere');
    expect(r.code).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(chain.expected));
    const info = JSON.parse((await cli('--json', 'vhdx', 'info', chain.top)).stdout.toString());
    expect(info).toMatchObject({ diskType: 'differencing', parent: { path: chain.base } });
    expect(info.parent.locator.parent_linkage).toMatch(/^\{[0-9a-f-]{36}\}$/);
  });

  it('check: exit 0 on a clean file, 5 with only a pending log, 1 with a BAT entry past the end of the file', async () => {
    const clean = tmp.path('clean.vhdx');
    await createVhdx(clean, { virtualSize: 8 * MiB, blockSize: MiB });
    const img = await openVhdx(clean, { writable: true });
    await img.write(MiB, Buffer.alloc(4096, 1));
    await img.close();
    expect((await cli('vhdx', 'check', clean)).code).toBe(0);
    const dirty = await buildVhdxWithPendingLog(tmp.path('dirty-check.vhdx'));
    const d = await cli('vhdx', 'check', dirty.path);
    expect(d.code).toBe(5);
    expect(d.stdout.toString()).toMatch(/warning: log/);
    // BAT entry of block 0 -> 1 GiB, far past the end of the file
    const broken = tmp.path('broken.vhdx');
    await createVhdx(broken, { virtualSize: 8 * MiB, blockSize: MiB });
    const fd = openSync(broken, 'r+');
    const entry = Buffer.alloc(8);
    entry.writeUInt32LE(((1024 << 20) | 6) >>> 0, 0);
    writeSync(fd, entry, 0, 8, 3 * MiB);
    closeSync(fd);
    const b = await cli('--json', 'vhdx', 'check', broken);
    expect(b.code).toBe(1);
    const r = JSON.parse(b.stdout.toString());
    expect(r.ok).toBe(false);
    expect(r.findings[0]).toMatchObject({ severity: 'error', structure: 'bat', offset: 3 * MiB });
    expect(r.findings[0].message).toMatch(/past the end of the file/);
  });

  it('a file that is not a VHDX: non-zero exit and a message naming the file and structure', async () => {
    const r = await cli('vhdx', 'info', '/etc/hostname');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\/etc\/hostname/);
    expect(r.stderr).toMatch(/vhdx_invalid/);
  });
});
