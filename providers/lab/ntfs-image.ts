import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rmdir, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labError } from './errors.js';

const run = promisify(execFile);
const SECTOR = 512;
const GPT_BASIC_DATA = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';
const GPT_MSR = 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE';

/**
 * The lab array's presentable copy for a real proxy: a GPT disk image whose basic-data partition
 * is an NTFS volume holding the snapshot's files — what a Pure or PowerStore clone of a CSV LUN
 * looks like to a Linux proxy. Made with sfdisk, mkntfs and ntfs-3g (root only).
 */
export async function buildNtfsImage(args: { sourceDir: string; image: string; label: string }): Promise<void> {
  const bytes = await treeBytes(args.sourceDir);
  // NTFS metadata, the MFT and slack: generous, and the file is sparse anyway
  const volumeSectors = Math.ceil((bytes * 1.25 + (64 << 20)) / SECTOR / 2048) * 2048;
  const start = 4096;
  await writeFile(args.image, '');
  await truncate(args.image, (start + volumeSectors + 2048) * SECTOR);
  const table = ['label: gpt', `start=2048, size=2048, type=${GPT_MSR}`, `start=${start}, size=${volumeSectors}, type=${GPT_BASIC_DATA}`].join('\n') + '\n';
  await sh('sfdisk', ['-q', args.image], table);
  const loop = (await sh('losetup', ['-f', '--show', '-o', String(start * SECTOR), '--sizelimit', String(volumeSectors * SECTOR), args.image])).trim();
  const mnt = await mkdtemp(join(tmpdir(), 'hvsnap-lab-ntfs-'));
  try {
    await sh('mkntfs', ['-Q', '-q', '-L', args.label.slice(0, 32), loop]);
    await sh('ntfs-3g', [loop, mnt]);
    try {
      await sh('cp', ['-R', '--sparse=always', `${args.sourceDir}/.`, mnt]);
    } finally {
      await sh('umount', [mnt]);
    }
  } finally {
    await sh('losetup', ['-d', loop]).catch(() => undefined);
    await rmdir(mnt).catch(() => undefined);
  }
}

async function sh(command: string, args: string[], input?: string): Promise<string> {
  try {
    const child = run(command, args, { maxBuffer: 1 << 20 });
    if (input !== undefined) child.child.stdin?.end(input);
    return (await child).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw labError('transient', `lab array: ${command} failed: ${(err.stderr || err.message).trim()}`, { op: command }, e);
  }
}

async function treeBytes(dir: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) n += await treeBytes(p);
    else if (entry.isFile()) n += (await stat(p)).size;
  }
  return n;
}
