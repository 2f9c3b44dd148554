import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readRangesParallel } from '../../proxy/data-mover-io.js';
import { createExecRunner, createLinuxProxy, type DeviceDiscovery } from '../../proxy/linux/index.js';
import { unmetNeeds } from '../helpers/requirements.js';
import { loopsBoundTo, makeNtfsDiskImage, ntfsNeeds } from './ntfs-image.js';

/**
 * Bench (not a test): reads one file from an NTFS volume the Linux proxy mounted read-only
 * (ntfs-3g over a loop device), with `cat` as the peer, then with readRangesParallel at
 * concurrency 1 and 4 (1 MiB chunks, SHA-256 per chunk, and without it). Medians of `runs`; ratios against cat.
 * For `npm run bench`; returns the figures or the reason it could not run.
 */
export async function benchProxyRead(options: { fileMiB?: number; runs?: number } = {}): Promise<Record<string, number | string>> {
  const missing = unmetNeeds(ntfsNeeds);
  if (missing) return { skipped: missing };
  const fileMiB = options.fileMiB ?? 16;
  const runs = options.runs ?? 3;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hvsnap-bench-proxy-'));
  const image = path.join(dir, 'lun.img');
  const data = randomBytes(fileMiB * 1024 * 1024);
  try {
    await makeNtfsDiskImage(image, { 'VMs/big.vhdx': data }, { volumeMiB: fileMiB + 32 });
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
  const runner = createExecRunner();
  const discovery: DeviceDiscovery = {
    rescan: async () => {},
    locate: async () => (await runner.run({ command: 'losetup', args: ['-r', '-f', '--show', image] })).stdout.trim(),
    release: async ({ device }) => {
      if (loopsBoundTo(image).includes(device)) await runner.run({ command: 'losetup', args: ['-d', device] });
    },
  };
  const proxy = createLinuxProxy({ mountRoot: path.join(dir, 'mnt') }, { runner, discovery });
  const identity = { kind: 'naa' as const, id: '600000000000000000000000000000aa' };
  const attachment = await proxy.attach({
    presentation: {
      name: 'bench',
      snapshotName: 's',
      host: 'h',
      target: { transport: 'folder' },
      luns: [{ volumeId: 'v', sourceIdentity: identity, identity }],
    },
  });
  const file = path.join(attachment.volumes[0].mountPath, 'VMs/big.vhdx');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = async (fn: () => Promise<void> | void) => {
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await fn();
      xs.push(performance.now() - t);
    }
    return median(xs);
  };
  const parallel =
    (concurrency: number, checksum = true) =>
    async () => {
      const h = await fs.open(file, 'r');
      try {
        await readRangesParallel({
          read: async (offset, length) => {
            const buf = Buffer.allocUnsafe(length);
            await h.read(buf, 0, length, offset);
            return buf;
          },
          ranges: [{ offset: 0, length: data.length }],
          chunkSize: 1024 * 1024,
          concurrency,
          maxBytesInFlight: 8 * 1024 * 1024,
          ...(checksum ? { checksum: 'sha256' as const } : {}),
          onChunk: async () => {},
        });
      } finally {
        await h.close();
      }
    };
  try {
    const cat = await time(() => void spawnSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] }));
    const sha = await time(() => void execFileSync('sha256sum', [file]));
    const c1 = await time(parallel(1));
    const c4 = await time(parallel(4));
    const c4NoHash = await time(parallel(4, false));
    const mibps = (ms: number) => Math.round((fileMiB / (ms / 1000)) * 10) / 10;
    return {
      fileMiB,
      runs,
      catMs: Math.round(cat),
      sha256sumMs: Math.round(sha),
      parallel1Ms: Math.round(c1),
      parallel4Ms: Math.round(c4),
      parallel4NoChecksumMs: Math.round(c4NoHash),
      catMiBps: mibps(cat),
      parallel4MiBps: mibps(c4),
      parallel1VsSha256sum: Math.round((c1 / sha) * 100) / 100,
      parallel4VsSha256sum: Math.round((c4 / sha) * 100) / 100,
    };
  } finally {
    await proxy.detach({ attachment });
    await fs.rm(dir, { recursive: true, force: true });
  }
}
