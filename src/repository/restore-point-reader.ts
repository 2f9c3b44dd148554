import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { decodeIndex } from './disk-index.js';
import { isErrno } from './fs-util.js';
import { isSafeId, openManifest } from './manifest.js';
import { indexFileName } from './restore-point-writer.js';
import type { DiskIndex, RestorePointManifest } from './types.js';

/** A restore point as found on disk: its manifest, or why it could not be read. */
export interface ScannedRestorePoint {
  id: string;
  /** its folder */
  dir: string;
  manifest?: RestorePointManifest;
  error?: Error;
}

/** A committed restore point with a readable manifest. */
export type LoadedRestorePoint = ScannedRestorePoint & { manifest: RestorePointManifest };

/**
 * Every folder under `committedDir`, with its manifest (checksum verified with `macKey` when
 * encrypted) or the reason it is unreadable; by id. Files there (a note an admin left, a
 * `.DS_Store`) are not restore points and are skipped: they must not stop gc.
 */
export async function scanRestorePoints(committedDir: string, macKey?: Buffer): Promise<ScannedRestorePoint[]> {
  const out: ScannedRestorePoint[] = [];
  const entries = (await readdir(committedDir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const id = entry.name;
    if (!isSafeId(id) || !entry.isDirectory()) continue;
    const dir = join(committedDir, id);
    const file = join(dir, 'manifest.json');
    try {
      const manifest = openManifest(JSON.parse(await readFile(file, 'utf8')), file, macKey);
      if (manifest.id !== id)
        throw new HvsnapError('repository_invalid', `manifest ${file}: id ${manifest.id} does not match its folder ${id}`, { context: { file, field: 'id' } });
      out.push({ id, dir, manifest });
    } catch (e) {
      const error =
        e instanceof HvsnapError
          ? e
          : new HvsnapError('repository_invalid', `manifest ${file} is unreadable: ${(e as Error).message}`, { cause: e, context: { file } });
      out.push({ id, dir, error });
    }
  }
  return out;
}

/** Restore point `id`; `not_found` when absent, `repository_invalid` naming the file when unreadable. */
export async function loadRestorePoint(committedDir: string, repoPath: string, id: string, macKey?: Buffer): Promise<LoadedRestorePoint> {
  if (!isSafeId(id))
    throw new HvsnapError('not_found', `no restore point ${JSON.stringify(id)} in ${repoPath}`, { context: { restorePoint: String(id), path: repoPath } });
  const dir = join(committedDir, id);
  const file = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR'))
      throw new HvsnapError('not_found', `no restore point ${id} in ${repoPath}`, { context: { restorePoint: id, path: repoPath } });
    throw new HvsnapError('repository_invalid', `cannot read ${file}`, { cause: e, context: { file } });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HvsnapError('repository_invalid', `manifest ${file} is not valid JSON`, { cause: e, context: { file } });
  }
  const manifest = openManifest(value, file, macKey);
  if (manifest.id !== id)
    throw new HvsnapError('repository_invalid', `manifest ${file}: id ${manifest.id} does not match its folder ${id}`, { context: { file, field: 'id' } });
  return { id, dir, manifest };
}

/** The index of a disk, checked against the SHA-256 its manifest records and against the repository chunk size. */
export async function readDiskIndex(rp: LoadedRestorePoint, diskId: string, chunkSize: number): Promise<DiskIndex> {
  const disk = rp.manifest.disks.find((d) => d.diskId === diskId);
  if (!disk) throw new HvsnapError('not_found', `restore point ${rp.id} has no disk ${diskId}`, { context: { restorePoint: rp.id, disk: diskId } });
  const file = join(rp.dir, 'disks', indexFileName(diskId));
  const ctx = { restorePoint: rp.id, disk: diskId, file };
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT'))
      throw new HvsnapError('integrity_failed', `index file ${file} of disk ${diskId} is missing`, { cause: e, context: { ...ctx, reason: 'missing' } });
    throw new HvsnapError('repository_invalid', `cannot read index file ${file}`, { cause: e, context: ctx });
  }
  const sha = createHash('sha256').update(buf).digest('hex');
  if (sha !== disk.indexSha256) {
    throw new HvsnapError('integrity_failed', `index file ${file} of disk ${diskId} has SHA-256 ${sha}; the manifest records ${disk.indexSha256}`, {
      context: { ...ctx, reason: 'mismatch' },
    });
  }
  const index = decodeIndex(buf, file);
  if (index.chunkSize !== chunkSize || index.virtualSize !== disk.virtualSize) {
    throw new HvsnapError(
      'repository_invalid',
      `index file ${file}: ${index.virtualSize} bytes in ${index.chunkSize}-byte chunks; expected ${disk.virtualSize} in ${chunkSize}`,
      {
        context: ctx,
      },
    );
  }
  return index;
}
