import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createDifferencingVhdx, createVhdx, mergeVhdx, openVhdx, prefixResolver } from '../../src/vhdx/index.js';
import { buildDifferencingChain } from '../helpers/vhdx-fixtures.js';
import { skipUnless } from '../helpers/requirements.js';
import { allBytes, MiB, qemuRaw, run, sha256, tempDir, tryRun } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const no7zip = skipUnless('differencing chains read by 7-Zip', { tools: ['7zz'] });
const noQemu = skipUnless('a merged chain checked by qemu-img', { tools: ['qemu-img'] });

/** 7-Zip's extraction of a VHDX (the oracle for differencing chains). */
function sevenZip(path: string): Buffer {
  return execFileSync('7zz', ['e', '-so', '-tvhdx', path], { maxBuffer: 512 * MiB, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function readAll(path: string, opts = {}): Promise<Buffer> {
  const img = await openVhdx(path, opts);
  try {
    return await img.read(0, img.virtualSize);
  } finally {
    await img.close();
  }
}

describe('differencing chains', () => {
  for (const lss of [512, 4096] as const) {
    it.skipIf(no7zip)(`children we write read identically to 7-Zip, with ZERO and UNMAPPED blocks (${lss}-byte sectors)`, async () => {
      const dir = tmp.path(`chain-${lss}`);
      mkdirSync(dir);
      const chain = await buildDifferencingChain(dir, { logicalSectorSize: lss, depth: 3, seed: lss });
      for (let i = 0; i < chain.children.length; i++) {
        const path = chain.children[i];
        const ours = await readAll(path);
        expect(sha256(ours)).toBe(sha256(chain.contents[i + 1]));
        expect(sha256(sevenZip(path))).toBe(sha256(ours));
      }
      expect(sha256(sevenZip(chain.base))).toBe(sha256(chain.contents[0]));
      const info = run('7zz', ['l', '-tvhdx', chain.top]);
      expect(info).toMatch(/Differencing/);
      // allocatedRanges covers every non-zero byte of the chain
      const img = await openVhdx(chain.top);
      const ranges = await img.allocatedRanges();
      await img.close();
      let cursor = 0;
      for (const r of [...ranges, { offset: chain.expected.length, length: 0 }]) {
        expect(allBytes(chain.expected.subarray(cursor, r.offset), 0)).toBe(true);
        cursor = r.offset + r.length;
      }
    });
  }

  it('a parent whose DataWriteGuid changed is refused, naming both GUIDs', async () => {
    const dir = tmp.path('linkage');
    mkdirSync(dir);
    await createVhdx(`${dir}/p.vhdx`, { virtualSize: 4 * MiB, blockSize: MiB });
    await createDifferencingVhdx(`${dir}/c.avhdx`, { parentPath: `${dir}/p.vhdx` });
    expect((await readAll(`${dir}/c.avhdx`)).length).toBe(4 * MiB);
    // writing to the parent gives it a new DataWriteGuid
    const p = await openVhdx(`${dir}/p.vhdx`, { writable: true });
    await p.write(0, Buffer.alloc(512, 1));
    await p.close();
    await expect(openVhdx(`${dir}/c.avhdx`)).rejects.toMatchObject({
      code: 'vhdx_invalid',
      context: { structure: 'parent' },
      message: expect.stringMatching(/DataWriteGuid/),
    });
  });

  it('finds a parent by its host path through resolveParent, and reports a missing one', async () => {
    const dir = tmp.path('resolve');
    const vol = `${dir}/mnt/vol1`;
    mkdirSync(`${vol}/vms/a`, { recursive: true });
    mkdirSync(`${dir}/children`, { recursive: true });
    await createVhdx(`${vol}/vms/a/disk.vhdx`, { virtualSize: 2 * MiB, blockSize: MiB });
    const w = await openVhdx(`${vol}/vms/a/disk.vhdx`, { writable: true });
    await w.write(MiB, Buffer.alloc(MiB, 0x5a));
    await w.close();
    await createDifferencingVhdx(`${dir}/children/disk.avhdx`, {
      parentPath: `${vol}/vms/a/disk.vhdx`,
      parentHostPath: 'C:\\ClusterStorage\\Volume1\\vms\\a\\disk.vhdx',
    });
    // move the parent: the relative path no longer works; the host path does, through the resolver
    mkdirSync(`${dir}/snap/vms/a`, { recursive: true });
    renameSync(`${vol}/vms/a/disk.vhdx`, `${dir}/snap/vms/a/disk.vhdx`);
    await expect(openVhdx(`${dir}/children/disk.avhdx`)).rejects.toMatchObject({ code: 'not_found', context: { structure: 'parent' } });
    const resolveParent = prefixResolver([{ from: 'c:\\clusterstorage\\volume1', to: `${dir}/snap` }]);
    const got = await readAll(`${dir}/children/disk.avhdx`, { resolveParent });
    expect(allBytes(got.subarray(MiB), 0x5a)).toBe(true);
    expect(allBytes(got.subarray(0, MiB), 0)).toBe(true);
  });

  it('a chain that loops is an error, not a hang', async () => {
    const dir = tmp.path('loop');
    mkdirSync(dir);
    await createVhdx(`${dir}/a.vhdx`, { virtualSize: 2 * MiB, blockSize: MiB });
    await createDifferencingVhdx(`${dir}/b.vhdx`, { parentPath: `${dir}/a.vhdx` });
    // replace the parent by a child of the child: a -> b -> a
    await createDifferencingVhdx(`${dir}/a2.vhdx`, { parentPath: `${dir}/b.vhdx` });
    renameSync(`${dir}/a2.vhdx`, `${dir}/a.vhdx`);
    await expect(openVhdx(`${dir}/b.vhdx`)).rejects.toMatchObject({ context: { structure: 'parent' }, message: expect.stringMatching(/loops/) });
  });

  it.skipIf(no7zip)('the parent is never written through a writable child', async () => {
    const dir = tmp.path('ro-parent');
    mkdirSync(dir);
    const chain = await buildDifferencingChain(dir, { depth: 1, seed: 5 });
    const baseBefore = sha256(await readAll(chain.base));
    const img = await openVhdx(chain.top, { writable: true });
    await img.write(3 * MiB + 100, Buffer.alloc(70000, 0xee));
    await img.close();
    expect(sha256(await readAll(chain.base))).toBe(baseBefore);
    const top = await readAll(chain.top);
    expect(allBytes(top.subarray(3 * MiB + 100, 3 * MiB + 70100), 0xee)).toBe(true);
    expect(sha256(sevenZip(chain.top))).toBe(sha256(top));
  });

  it.skipIf(noQemu)('mergeVhdx folds a child (partial sectors, ZERO and UNMAPPED blocks) into its parent', async () => {
    const dir = tmp.path('merge');
    mkdirSync(dir);
    const chain = await buildDifferencingChain(dir, { depth: 1, seed: 11 });
    const { parentPath, bytesMerged } = await mergeVhdx(chain.top);
    expect(parentPath).toBe(chain.base);
    expect(bytesMerged).toBeGreaterThan(0);
    expect(sha256(await readAll(chain.base))).toBe(sha256(chain.expected));
    expect(tryRun('qemu-img', ['check', chain.base]).status).toBe(0);
    expect(sha256(qemuRaw(chain.base, `${dir}/merged.raw`))).toBe(sha256(chain.expected));
    // the merged child is stale now: its parent has a new DataWriteGuid
    await expect(openVhdx(chain.top)).rejects.toMatchObject({ code: 'vhdx_invalid', context: { structure: 'parent' } });
  });
});
