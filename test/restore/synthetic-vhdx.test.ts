import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DiskIndex } from '../../src/repository/types.js';
import { ChunkedDisk } from '../../src/restore/mount/chunked-disk.js';
import { readPartitions } from '../../src/restore/mount/partitions.js';
import { syntheticVhdx } from '../../src/restore/mount/synthetic-vhdx.js';
import { openVhdx } from '../../src/vhdx/index.js';
import { stdoutDigest } from '../helpers/async-digest.js';
import { describeWith } from '../helpers/requirements.js';

const run = promisify(execFile);
const MiB = 1 << 20;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A disk index over an in-memory chunk map: data in some chunks, zeros (null) elsewhere. */
function fakeDisk(virtualSize: number, chunkSize: number, dataChunks: number[]) {
  const store = new Map<string, Buffer>();
  const whole = Buffer.alloc(virtualSize);
  const chunks: DiskIndex['chunks'] = [];
  for (let i = 0; i * chunkSize < virtualSize; i++) {
    const len = Math.min(chunkSize, virtualSize - i * chunkSize);
    if (!dataChunks.includes(i)) {
      chunks.push(null);
      continue;
    }
    const data = randomBytes(len);
    data.copy(whole, i * chunkSize);
    store.set(sha(data), data);
    chunks.push(sha(data));
  }
  const index: DiskIndex = { chunkSize, virtualSize, chunks };
  const reads: string[] = [];
  const disk = new ChunkedDisk(index, async (id) => (reads.push(id), store.get(id)!), 'test-disk');
  return { index, disk, whole, reads };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hvsnap-synth-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describeWith('a VHDX synthesized from a chunk index', { tools: ['qemu-img', '7zz'] }, () => {
  it('reads through qemu-img, 7-Zip and our reader as the disk; blocks only where data is; qemu-img check passes', async () => {
    // 70 MiB + 512 KiB: three 32 MiB blocks, the last one short; data in blocks 0 and 2 only, and in the short tail
    const virtualSize = 70 * MiB + 512 * 1024;
    const { index, disk, whole } = fakeDisk(virtualSize, MiB, [0, 5, 64, 69, 70]);
    const vhdx = await syntheticVhdx({ disk, index, virtualDiskId: '6f1a2b3c-4d5e-4f60-8172-839405a6b7c8' });
    const file = join(dir, 'synth.vhdx');
    await writeFile(file, await vhdx.read(0, vhdx.size));
    // two allocated 32 MiB blocks after the metadata: block 1 (chunks 32..63) is all zeros
    expect(vhdx.size).toBe(4 * MiB + 2 * 32 * MiB);
    await run('qemu-img', ['check', '-f', 'vhdx', file]);
    expect((await stdoutDigest('7zz', ['e', '-so', '-tvhdx', file])).sha256).toBe(sha(whole));
    await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', file, `${file}.raw`]);
    expect((await stdoutDigest('cat', [`${file}.raw`])).sha256).toBe(sha(whole));
    const img = await openVhdx(file);
    expect(img.virtualDiskId.toLowerCase()).toBe('6f1a2b3c-4d5e-4f60-8172-839405a6b7c8');
    expect(sha(await img.read(0, virtualSize))).toBe(sha(whole));
    await img.close();
    // reads that straddle the metadata/data boundary and two blocks come out as the whole file does
    const full = await vhdx.read(0, vhdx.size);
    for (const [at, len] of [
      [4 * MiB - 100, 300],
      [4 * MiB + 32 * MiB - 7, 20],
      [vhdx.size - 10, 100],
    ]) {
      expect((await vhdx.read(at, len)).equals(full.subarray(at, Math.min(vhdx.size, at + len)))).toBe(true);
    }
  });

  it('building it reads no chunk; reading the raw disk reads only the chunks asked for', async () => {
    const { index, disk, reads, whole } = fakeDisk(64 * MiB, MiB, [0, 1, 40]);
    await syntheticVhdx({ disk, index });
    expect(reads).toEqual([]);
    expect((await disk.read(40 * MiB + 10, 100)).equals(whole.subarray(40 * MiB + 10, 40 * MiB + 110))).toBe(true);
    expect(reads).toEqual([index.chunks[40]]);
    expect((await disk.read(20 * MiB, MiB)).every((b) => b === 0)).toBe(true); // a zero chunk: no read
    expect(reads).toHaveLength(1);
  });

  it('finds GPT partitions and which hold NTFS; no table is no partitions', async () => {
    const { index } = fakeDisk(8 * MiB, MiB, []);
    const raw = Buffer.alloc(8 * MiB);
    raw.writeUInt16LE(0xaa55, 510);
    raw.write('EFI PART', 512, 'latin1');
    raw.writeBigUInt64LE(2n, 512 + 72); // entries at LBA 2
    raw.writeUInt32LE(128, 512 + 80);
    raw.writeUInt32LE(128, 512 + 84);
    const entry = (i: number, first: number, last: number) => {
      const at = 1024 + i * 128;
      raw.fill(0x11, at, at + 16); // a type GUID
      raw.writeBigUInt64LE(BigInt(first), at + 32);
      raw.writeBigUInt64LE(BigInt(last), at + 40);
    };
    entry(0, 2048, 4095);
    entry(2, 4096, 8191);
    raw.write('NTFS    ', 4096 * 512 + 3, 'latin1');
    const image = { size: raw.length, read: async (o: number, l: number) => raw.subarray(o, Math.min(raw.length, o + l)) };
    expect(await readPartitions(image)).toEqual([
      { number: 1, offset: 2048 * 512, size: 2048 * 512, scheme: 'gpt', ntfs: false },
      { number: 3, offset: 4096 * 512, size: 4096 * 512, scheme: 'gpt', ntfs: true },
    ]);
    expect(await readPartitions(new ChunkedDisk(index, async () => Buffer.alloc(0), 'zeros'))).toEqual([]);
  });
});
