import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hugePageEnv, transparentHugePages } from '../../src/core/aligned-memory.js';
import { buildForChild } from '../helpers/child-build.js';

/** glibc's version here, or undefined (another C library or platform). */
const glibc =
  process.platform === 'linux' ? (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime : undefined;
const tunableHonoured = glibc !== undefined && Number(glibc.split('.')[0]) * 1000 + Number(glibc.split('.')[1]) >= 2035;

/**
 * Run in a child: takes aligned buffers of several sizes (pieces of a slab and mappings of their
 * own), fills each one's first bytes at random, then finds those bytes in its own memory through
 * /proc/self/mem (where a flip of the buffer's first byte shows: not a copy), independently of how
 * aligned-memory.ts placed them, and prints where they are.
 */
const PROBE = `
import { allocAlignedBuffer, allocAlignedShared, alignedMemorySource, isAlignedMemory } from './src/core/aligned-memory.js';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
const MiB = 1 << 20;
const bufs = [allocAlignedShared(3 * MiB), allocAlignedShared(2 * MiB + 8192), allocAlignedBuffer(MiB), allocAlignedShared(40 * MiB), allocAlignedBuffer(20 * MiB)];
for (const b of bufs) b.fill(1);
for (const b of bufs) randomFillSync(b.subarray(0, 64));
const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(l)).filter(Boolean).map((m) => [parseInt(m[1], 16), parseInt(m[2], 16)]).filter(([s, e]) => e - s >= MiB);
const fd = fs.openSync('/proc/self/mem', 'r');
const piece = Buffer.alloc(8 * MiB);
const one = Buffer.alloc(1);
/** True when address a is b's first byte: a flip of b[0] shows there (a copy of b's bytes would not change). */
function isAt(a, b) {
  b[0] ^= 0xff;
  try { return fs.readSync(fd, one, 0, 1, a) === 1 && one[0] === b[0]; } finally { b[0] ^= 0xff; }
}
function whereIs(b) {
  const head = b.subarray(0, 64);
  for (const [s, e] of maps) {
    for (let a = s; a < e; a += piece.length - 64) {
      let n;
      try { n = fs.readSync(fd, piece, 0, Math.min(piece.length, e - a), a); } catch { break; }
      for (let i = piece.indexOf(head, 0); i >= 0 && i + 64 <= n; i = piece.indexOf(head, i + 1)) if (isAt(a + i, b)) return a + i;
    }
  }
  return -1;
}
const addresses = bufs.map(whereIs);
// the flag madvise(MADV_HUGEPAGE) sets on a mapping ('hg' in VmFlags), for each buffer's mapping
const smaps = fs.readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/);
const hg = addresses.map((a) => {
  const area = smaps.find((b) => { const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(b); return m && parseInt(m[1], 16) <= a && a < parseInt(m[2], 16); });
  return / hg\\b/.test(/VmFlags:(.*)/.exec(area ?? '')?.[1] ?? '');
});
console.log(JSON.stringify({ source: alignedMemorySource(), pageOffsets: addresses.map((a) => (a < 0 ? 'not found' : a % 4096)), aligned: bufs.map(isAlignedMemory), hg }));
`;

let build: { dir: string; remove(): Promise<void> } | undefined;
beforeAll(async () => {
  if (process.platform === 'linux') build = await buildForChild(['src/core/aligned-memory.ts'], { 'probe.mjs': PROBE });
}, 120_000);
afterAll(async () => build?.remove());

function probe(env: NodeJS.ProcessEnv): { source: string; pageOffsets: Array<number | string>; aligned: boolean[]; hg: boolean[] } {
  delete env.LD_PRELOAD; // another malloc would keep WebAssembly memory
  const r = spawnSync(process.execPath, [join(build!.dir, 'probe.mjs')], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`probe exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe.skipIf(process.platform !== 'linux')('aligned memory for direct I/O (Linux)', () => {
  it('with glibc.malloc.hugetlb=1, comes from malloc on whole pages, read back in /proc/self/mem, madvised for huge pages', () => {
    const got = probe({ ...process.env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    // glibc before 2.35 ignores the tunable: WebAssembly memory then, as without it
    expect(got.source).toBe(tunableHonoured ? 'malloc' : 'wasm');
    expect(got.pageOffsets).toEqual([0, 0, 0, 0, 0]);
    expect(got.aligned).toEqual([true, true, true, true, true]);
    // glibc asked for huge pages on every buffer's memory (whether the kernel had them to give is its affair)
    const thp = transparentHugePages();
    if (tunableHonoured && thp !== undefined) expect(got.hg).toEqual([true, true, true, true, true]);
    else console.log(`huge pages not checked: glibc ${glibc ?? 'absent'}, THP ${thp ?? 'absent'}`);
  }, 60_000);

  it('without the tunable, comes from WebAssembly memory, on whole pages too', () => {
    const env = { ...process.env };
    delete env.GLIBC_TUNABLES;
    const got = probe(env);
    expect(got.source).toBe('wasm');
    expect(got.pageOffsets).toEqual([0, 0, 0, 0, 0]);
    expect(got.aligned).toEqual([true, true, true, true, true]);
  }, 60_000);
});

describe('hugePageEnv: the environment a data command is started with', () => {
  it('adds the tunable to those already set, and to nothing where it would change nothing', () => {
    if (!tunableHonoured) {
      expect(hugePageEnv({ HVSNAP_HUGE_PAGES: '1' })).toBeUndefined();
      return;
    }
    expect(hugePageEnv({ HVSNAP_HUGE_PAGES: '1', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', PATH: '/bin' })).toEqual({
      HVSNAP_HUGE_PAGES: '1',
      GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1',
      PATH: '/bin',
    });
    expect(hugePageEnv({ HVSNAP_HUGE_PAGES: '0' })).toBeUndefined();
    expect(hugePageEnv({ HVSNAP_HUGE_PAGES: '1', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' })).toBeUndefined(); // the admin's choice stands
    expect(hugePageEnv({ HVSNAP_HUGE_PAGES: '1', LD_PRELOAD: '/usr/lib/libjemalloc.so.2' })).toBeUndefined();
    // by default only where THP is `madvise`: under `always` every process has huge pages already
    expect(hugePageEnv({})?.GLIBC_TUNABLES).toBe(transparentHugePages() === 'madvise' ? 'glibc.malloc.hugetlb=1' : undefined);
  });
});
