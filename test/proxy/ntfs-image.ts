import { execFileSync } from 'node:child_process';
import { promises as fs, openSync, closeSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Needs } from '../helpers/requirements.js';

/** Test helper: GPT disk images with NTFS volumes, made with the real sfdisk, mkntfs and ntfs-3g (root only). */

const SECTOR = 512;
export const GPT_MSR = 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE';
export const GPT_BASIC = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';

/** Sectors of the layout: a reserved partition, the NTFS volume, and a smaller second basic-data partition. */
export const LAYOUT = {
  msr: { start: 2048, size: 2048 },
  volume: { start: 4096, size: 81920 },
  small: { start: 86016, size: 4096 },
  totalBytes: 48 * 1024 * 1024,
};

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * What the real-component tests need: root, the commands, and (probed) a loop device that really
 * binds and a /dev/fuse that really opens — a container may have root and the tools but neither.
 */
export const ntfsNeeds: Needs = {
  tools: ['losetup', 'sfdisk', 'mkntfs', 'ntfs-3g', 'blockdev', 'umount'],
  root: true,
  fuse: true,
  check: probeLoopAndFuse,
};

function probeLoopAndFuse(): string | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hvsnap-cap-'));
  const file = path.join(dir, 'probe.img');
  try {
    writeFileSync(file, Buffer.alloc(1024 * 1024));
    let loop: string;
    try {
      loop = sh('losetup', ['-r', '-f', '--show', file]).trim();
    } catch (e) {
      return `losetup -r -f --show ${file} failed: ${String((e as { stderr?: string }).stderr ?? e).trim()}`;
    }
    sh('losetup', ['-d', loop]);
    try {
      closeSync(openSync('/dev/fuse', 'r+'));
    } catch (e) {
      return `FUSE is not usable: open /dev/fuse: ${(e as Error).message}`;
    }
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Makes `image`: GPT with the {@link LAYOUT} partitions, an NTFS volume holding `files` (paths with `/`). */
export async function makeNtfsDiskImage(image: string, files: Record<string, Buffer>, options: { volumeMiB?: number } = {}): Promise<void> {
  const volume = options.volumeMiB ? { start: LAYOUT.volume.start, size: options.volumeMiB * 2048 } : LAYOUT.volume;
  const small = options.volumeMiB ? { start: volume.start + volume.size, size: LAYOUT.small.size } : LAYOUT.small;
  await fs.writeFile(image, '');
  await fs.truncate(image, options.volumeMiB ? (small.start + small.size + 2048) * SECTOR : LAYOUT.totalBytes);
  const table = [
    'label: gpt',
    `start=${LAYOUT.msr.start}, size=${LAYOUT.msr.size}, type=${GPT_MSR}`,
    `start=${volume.start}, size=${volume.size}, type=${GPT_BASIC}`,
    `start=${small.start}, size=${small.size}, type=${GPT_BASIC}`,
  ].join('\n');
  execFileSync('sfdisk', ['-q', image], { input: `${table}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
  const loop = sh('losetup', ['-f', '--show', '-o', String(volume.start * SECTOR), '--sizelimit', String(volume.size * SECTOR), image]).trim();
  const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'hvsnap-mkntfs-'));
  try {
    sh('mkntfs', ['-Q', '-q', '-L', 'HVSNAPTEST', loop]);
    sh('ntfs-3g', [loop, mnt]);
    try {
      for (const [rel, data] of Object.entries(files)) {
        const target = path.join(mnt, ...rel.split('/'));
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.writeFile(target, data);
      }
    } finally {
      sh('umount', [mnt]);
    }
  } finally {
    sh('losetup', ['-d', loop]);
    await fs.rmdir(mnt);
  }
}

/** Loop devices currently bound to `file` (an image path or a device path). */
export function loopsBoundTo(file: string): string[] {
  const out = sh('losetup', ['-j', file]).trim();
  return out ? out.split('\n').map((l) => l.split(':')[0]) : [];
}
